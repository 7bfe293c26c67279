package qr_test

import (
	"fmt"
	"log"

	"github.com/qredge/qredge/qr"
)

// A print-ready SVG of a short link: level H survives a logo sticker or
// a scuffed poster, and the colours keep a contrast of at least 4.5:1.
func Example() {
	c, err := qr.Encode("https://go.example.com/spring24?q", qr.H)
	if err != nil {
		log.Fatal(err)
	}
	o := qr.DefaultOptions()
	o.Size = 1024
	o.Foreground, _ = qr.ParseColor("0b3d91")
	svg, err := c.SVG(o)
	if err != nil {
		log.Fatal(err)
	}
	_ = svg // ready for os.WriteFile("spring24.svg", svg, 0o644)
	scale, _ := c.Fit(o)
	fmt.Printf("%d modules and a quiet zone of %d; as a PNG, %d pixels a module\n", c.Modules(), o.Margin, scale)
	// Output: 33 modules and a quiet zone of 4; as a PNG, 24 pixels a module
}

// Colours that would scan poorly are refused with the rule.
func ExampleOptions_Validate() {
	o := qr.DefaultOptions()
	o.Foreground, _ = qr.ParseColor("999")
	fmt.Println(o.Validate())
	// Output: fg 999999 on bg ffffff has a contrast ratio of 2.84:1: a scannable code needs a foreground darker than its background with a WCAG contrast ratio of at least 4.5:1
}
