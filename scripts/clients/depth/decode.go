// Decodes each case file (a serialized telemetry.v1.QueryEventsResponse) with
// google.golang.org/protobuf's proto.Unmarshal and default options, as
// grpc-go's proto codec does, and prints one line per file: "<file>\tok" or
// "<file>\tfail\t<error>".
//
// Usage: decode CASES_DIR
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	telemetryv1 "github.com/telemetry-vault/telemetry-vault/gen/go/telemetry/v1"
	"google.golang.org/protobuf/proto"
)

func main() {
	// The module's version is not exported; measure-depth.mjs adds the Debian package's.
	fmt.Printf("runtime\tgoogle.golang.org/protobuf proto.Unmarshal\n")
	entries, err := os.ReadDir(os.Args[1])
	if err != nil {
		panic(err)
	}
	names := []string{}
	for _, entry := range entries {
		names = append(names, entry.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(os.Args[1], name))
		if err != nil {
			panic(err)
		}
		if err := proto.Unmarshal(data, &telemetryv1.QueryEventsResponse{}); err != nil {
			fmt.Printf("%s\tfail\t%v\n", name, err)
		} else {
			fmt.Printf("%s\tok\n", name)
		}
	}
}
