// Command tcpwhy reads TCP packet captures and says, connection by
// connection and listener by listener, what happened and why. See
// `tcpwhy --help`.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
