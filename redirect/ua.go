package redirect

import "bytes"

// Device classes, as bits so a rule can hold a set of them.
const (
	DeviceOther   uint8 = 1 << iota // anything not below, including empty UAs
	DeviceIOS                       // iPhone, iPad (old UAs), iPod
	DeviceAndroid                   // Android phones and tablets
	DeviceDesktop                   // Windows, macOS, Linux, ChromeOS
)

// DeviceName returns the rule name of a device class.
func DeviceName(d uint8) string {
	switch d {
	case DeviceIOS:
		return "ios"
	case DeviceAndroid:
		return "android"
	case DeviceDesktop:
		return "desktop"
	}
	return "other"
}

func deviceBit(name string) uint8 {
	switch name {
	case "ios":
		return DeviceIOS
	case "android":
		return DeviceAndroid
	case "desktop":
		return DeviceDesktop
	case "other":
		return DeviceOther
	}
	return 0
}

// uaToken is a substring that classifies a User-Agent: as a device class
// (device != 0) or as a bot or preview fetcher.
type uaToken struct {
	text   []byte
	device uint8
}

// uaTokens are looked for in one pass over the User-Agent. Device tokens
// are ordered by priority: the first class found in this order wins (an
// Android UA also says "Linux").
var uaTokens = func() []uaToken {
	dev := func(d uint8, texts ...string) (out []uaToken) {
		for _, t := range texts {
			out = append(out, uaToken{text: []byte(t), device: d})
		}
		return out
	}
	var all []uaToken
	all = append(all, dev(DeviceIOS, "iPhone", "iPad", "iPod")...)
	all = append(all, dev(DeviceAndroid, "Android")...)
	all = append(all, dev(DeviceDesktop, "Windows NT", "Macintosh", "CrOS", "X11", "Linux x86_64")...)
	// Crawlers, link-preview fetchers and tools. Preview fetchers still get
	// the redirect; the flag only lets analytics exclude them.
	all = append(all, dev(0,
		"bot", "Bot", // Googlebot, bingbot, Twitterbot, Slackbot, LinkedInBot, Discordbot, ...
		"facebookexternalhit", "Facebot", "WhatsApp/", "Slack-ImgProxy",
		"crawler", "Crawler", "spider", "Spider", "Embedly", "Iframely", "SkypeUriPreview", "vkShare",
		"HeadlessChrome", "Lighthouse", "curl/", "Wget/", "python-requests", "python-urllib",
		"Go-http-client", "okhttp/", "Apache-HttpClient", "axios/", "node-fetch", "Mastodon/",
		"Bluesky Cardyb", "Google-PageRenderer", "Google Web Preview", "MicrosoftPreview")...)
	return all
}()

// Not listed on purpose: Snapchat, Instagram, FBAN/FBAV, Pinterest, Viber
// and others also name the in-app browsers that people use; their crawlers
// say "bot" anyway (Pinterestbot, "Snap URL Preview Service; bot").

// uaByFirst indexes uaTokens by their first byte, so one pass over the
// User-Agent compares only the tokens that can start at each position.
var uaByFirst = func() (t [256][]uint8) {
	for i, tok := range uaTokens {
		t[tok.text[0]] = append(t[tok.text[0]], uint8(i))
	}
	return t
}()

var devicePriority = [...]uint8{DeviceIOS: 3, DeviceAndroid: 2, DeviceDesktop: 1}

// ClassifyUA returns the device class of a User-Agent and whether it is a
// bot or link-preview fetcher. It makes one pass over the bytes: no
// regular expressions, no allocation.
func ClassifyUA(ua []byte) (device uint8, bot bool) {
	for i := 0; i < len(ua); i++ {
		cands := uaByFirst[ua[i]]
		if len(cands) == 0 {
			continue
		}
		rest := ua[i:]
		for _, ti := range cands {
			tok := &uaTokens[ti]
			if len(rest) < len(tok.text) || !bytes.Equal(rest[:len(tok.text)], tok.text) {
				continue
			}
			if tok.device == 0 {
				bot = true
			} else if device == 0 || devicePriority[tok.device] > devicePriority[device] {
				device = tok.device
			}
		}
		if bot && device == DeviceIOS {
			break // nothing can change the answer any more
		}
	}
	if device == 0 {
		device = DeviceOther
	}
	return device, bot
}
