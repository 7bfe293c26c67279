package linkfile_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

func ExampleCSVReader() {
	in := `code,destination,tags,disabled
spring,https://example.com/spring?utm_source=qr,"print, spring",no
broken,https://example.com/,,perhaps
`
	r, err := linkfile.NewCSVReader(strings.NewReader(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		l, err := r.Read()
		if err == io.EOF {
			break
		}
		var re *linkfile.RowError
		if errors.As(err, &re) {
			fmt.Println(re) // the next row can still be read
			continue
		}
		if err != nil {
			fmt.Println(err) // a CSV syntax error: stop
			return
		}
		fmt.Println(r.Line(), l.Code, l.Destination, l.Tags)
	}
	// Output:
	// 2 spring https://example.com/spring?utm_source=qr [print spring]
	// line 3: disabled: must be true or false (or 1/0, yes/no), got "perhaps"
}

func ExampleCSVWriter() {
	w := linkfile.NewCSVWriter(os.Stdout)
	w.Write(&store.Link{Code: "spring", Destination: "https://example.com/?a=1&b=2", Status: 302, Tags: []string{"print", "spring"},
		Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 1}, {Name: "b", Destination: "https://b.example/", Weight: 1}}})
	if err := w.Flush(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// code,domain,destination,status,forward_query,query_precedence,disabled,tags,rules,variants,schedule,title,notes,gone_url,max_scans,max_scans_include_bots,password_hash,password_protected,version,created_at,updated_at
	// spring,,https://example.com/?a=1&b=2,302,false,,false,print spring,,"[{""name"":""a"",""destination"":""https://a.example/"",""weight"":1},{""name"":""b"",""destination"":""https://b.example/"",""weight"":1}]",,,,,,false,,false,0,,
}
