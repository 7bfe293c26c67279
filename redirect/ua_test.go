package redirect

import "testing"

func TestClassifyUA(t *testing.T) {
	f := func(ua string, device uint8, bot bool) {
		t.Helper()
		d, b := ClassifyUA([]byte(ua))
		if d != device || b != bot {
			t.Fatalf("ClassifyUA(%q) = %s, bot %v; want %s, bot %v", ua, DeviceName(d), b, DeviceName(device), bot)
		}
	}
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", DeviceIOS, false)
	f("Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", DeviceIOS, false)
	f("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", DeviceAndroid, false)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", DeviceDesktop, false)
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", DeviceDesktop, false)
	f("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", DeviceDesktop, false)
	f("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", DeviceDesktop, false)
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21E219 [FBAN/FBIOS;FBAV/460.0]", DeviceIOS, false)
	f("", DeviceOther, false)
	f("SomeQRScanner/1.0", DeviceOther, false)
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", DeviceOther, true)
	f("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)", DeviceAndroid, true)
	f("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", DeviceOther, true)
	f("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", DeviceOther, true)
	f("WhatsApp/2.23.20.0 A", DeviceOther, true)
	f("Twitterbot/1.0", DeviceOther, true)
	f("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", DeviceOther, true)
	f("TelegramBot (like TwitterBot)", DeviceOther, true)
	f("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", DeviceOther, true)
	f("curl/8.5.0", DeviceOther, true)
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36", DeviceDesktop, true)
}

func TestPrimaryLang(t *testing.T) {
	f := func(al, want string) {
		t.Helper()
		l, n := primaryLang([]byte(al))
		if got := string(l[:n]); got != want {
			t.Fatalf("primaryLang(%q) = %q, want %q", al, got, want)
		}
	}
	f("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de")
	f("en-US", "en")
	f("EN", "en")
	f("fr;q=0.5, de;q=0.9", "de")
	f("fr;q=0.5, de;q=0.5", "fr")
	f("*;q=1, es;q=0.1", "es")
	f("de;q=0, it", "it")
	f("zh-Hant-TW", "zh")
	f("", "")
	f("*", "")
	f("123", "")
	f(" pt-BR ; q=1.0 , en ", "pt")
	f("de;q=0.005,fr;q=0.004", "de")
}

func FuzzClassify(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", "de-DE,de;q=0.9")
	f.Add("Googlebot", "*;q=0.1,en;q=0")
	f.Fuzz(func(t *testing.T, ua, al string) {
		d, _ := ClassifyUA([]byte(ua))
		if d != DeviceIOS && d != DeviceAndroid && d != DeviceDesktop && d != DeviceOther {
			t.Fatalf("ClassifyUA(%q) = %d", ua, d)
		}
		l, n := primaryLang([]byte(al))
		if n < 0 || n > maxLang {
			t.Fatalf("primaryLang(%q) length %d", al, n)
		}
		for _, c := range l[:n] {
			if c < 'a' || c > 'z' {
				t.Fatalf("primaryLang(%q) = %q", al, l[:n])
			}
		}
	})
}
