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

var (
	uaIPhone  = []byte("iPhone")
	uaIPad    = []byte("iPad")
	uaIPod    = []byte("iPod")
	uaAndroid = []byte("Android")
	uaWindows = []byte("Windows NT")
	uaMac     = []byte("Macintosh")
	uaX11     = []byte("X11")
	uaCrOS    = []byte("CrOS")
	uaLinux   = []byte("Linux x86_64")
	uaBot     = []byte("bot") // Googlebot, bingbot, Twitterbot, Slackbot-LinkExpanding, ...
	uaBotCap  = []byte("Bot") // LinkedInBot, TelegramBot, Discordbot has lower case
)

// botTokens are crawlers, link-preview fetchers and tools that do not
// contain "bot" or "Bot". Preview fetchers still get the redirect; the flag
// only lets analytics exclude them.
var botTokens = [][]byte{
	[]byte("facebookexternalhit"), []byte("Facebot"), []byte("WhatsApp/"), []byte("Slack-ImgProxy"),
	[]byte("crawler"), []byte("Crawler"), []byte("spider"), []byte("Spider"), []byte("Embedly"),
	[]byte("Iframely"), []byte("SkypeUriPreview"), []byte("vkShare"),
	[]byte("HeadlessChrome"), []byte("Lighthouse"), []byte("curl/"), []byte("Wget/"),
	[]byte("python-requests"), []byte("python-urllib"), []byte("Go-http-client"), []byte("okhttp/"),
	[]byte("Apache-HttpClient"), []byte("axios/"), []byte("node-fetch"), []byte("Mastodon/"),
	[]byte("Bluesky Cardyb"), []byte("Google-PageRenderer"), []byte("Google Web Preview"),
	[]byte("MicrosoftPreview"),
}

// Not listed on purpose: Snapchat, Instagram, FBAN/FBAV, Pinterest, Viber
// and others also name the in-app browsers that people use; their crawlers
// say "bot" anyway (Pinterestbot, "Snap URL Preview Service; bot").

// ClassifyUA returns the device class of a User-Agent and whether it is a
// bot or link-preview fetcher. It scans bytes only: no regular expressions,
// no allocation.
func ClassifyUA(ua []byte) (device uint8, bot bool) {
	switch {
	case bytes.Contains(ua, uaIPhone) || bytes.Contains(ua, uaIPad) || bytes.Contains(ua, uaIPod):
		device = DeviceIOS
	case bytes.Contains(ua, uaAndroid):
		device = DeviceAndroid
	case bytes.Contains(ua, uaWindows) || bytes.Contains(ua, uaMac) || bytes.Contains(ua, uaCrOS) ||
		bytes.Contains(ua, uaX11) || bytes.Contains(ua, uaLinux):
		device = DeviceDesktop
	default:
		device = DeviceOther
	}
	if bytes.Contains(ua, uaBot) || bytes.Contains(ua, uaBotCap) {
		return device, true
	}
	for _, t := range botTokens {
		if bytes.Contains(ua, t) {
			return device, true
		}
	}
	return device, false
}
