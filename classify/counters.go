package classify

// CounterOrder lists the nstat counters tcpwhy predicts, in print order.
var CounterOrder = []string{
	"TcpActiveOpens", "TcpPassiveOpens", "TcpAttemptFails", "TcpEstabResets", "TcpOutRsts",
	"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtEmbryonicRsts",
	"TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData", "TcpExtTCPAbortOnLinger",
	"TcpExtTCPAbortOnTimeout", "TcpExtTCPSynRetrans", "TcpExtSyncookiesSent",
}

// NetstatText maps nstat counter names to the phrase `netstat -s` prints.
var NetstatText = map[string]string{
	"TcpActiveOpens":          "active connection openings",
	"TcpPassiveOpens":         "passive connection openings",
	"TcpAttemptFails":         "failed connection attempts",
	"TcpEstabResets":          "connection resets received",
	"TcpOutRsts":              "resets sent",
	"TcpExtListenOverflows":   "times the listen queue of a socket overflowed",
	"TcpExtListenDrops":       "SYNs to LISTEN sockets dropped",
	"TcpExtEmbryonicRsts":     "resets received for embryonic SYN_RECV sockets",
	"TcpExtTCPAbortOnClose":   "connections reset due to early user close",
	"TcpExtTCPAbortOnData":    "connections reset due to unexpected data",
	"TcpExtTCPAbortOnLinger":  "connections aborted after user close in linger timeout",
	"TcpExtTCPAbortOnTimeout": "connections aborted due to timeout",
	"TcpExtTCPSynRetrans":     "TCPSynRetrans",
	"TcpExtSyncookiesSent":    "SYN cookies sent",
}
