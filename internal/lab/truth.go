//go:build linux

package lab

// Truth is the content of a scenario's truth.json: what the kernel really
// did in the scenario, as the lab observed it from the socket API, the
// namespaces' counters and its own reading of the captures.
type Truth struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description"`
	Kernel      string `json:"kernel"`
	// Sysctls are the values read back in each namespace ("client",
	// "server") after the scenario set its own: the keys it set plus the
	// TCP knobs that shape the captures.
	Sysctls  map[string]map[string]string `json:"sysctls"`
	Captures []CaptureTruth               `json:"captures"`
	Flows    []FlowTruth                  `json:"flows"`
	// Counters are the non-zero deltas of every nstat counter in each
	// namespace ("client", "server") over the capture window.
	Counters  map[string]map[string]int64 `json:"counters"`
	Listeners []ListenerTruth             `json:"listeners"`
	Notes     []string                    `json:"notes"`
	// DurationSeconds is how long the scenario ran (setup included).
	DurationSeconds float64 `json:"duration_s"`
}

// CaptureTruth describes one capture file of a scenario.
type CaptureTruth struct {
	File string `json:"file"`
	// Point is where it was taken: "client" or "server" namespace.
	Point string `json:"point"`
	// Format is "pcap" or "pcapng".
	Format string `json:"format"`
	// LinkType is the libpcap link-type name: EN10MB, LINUX_SLL, LINUX_SLL2.
	LinkType string `json:"link_type"`
	// TSPrecision is "micro" or "nano".
	TSPrecision string `json:"ts_precision"`
	// Interface is the device captured on ("veth-s", "tap-c", "any").
	Interface string `json:"interface"`
	// Packets is the number of packets in the file.
	Packets int `json:"packets"`
}

// FlowTruth is the truth about one connection (4-tuple).
type FlowTruth struct {
	// Client and Server are ip:port; the client sent the SYN.
	Client string `json:"client"`
	Server string `json:"server"`
	// Verdict uses DOMAIN.md's vocabulary.
	Verdict string `json:"verdict"`
	// SynRetransmits and SynackRetransmits are counted on the wire (in
	// the server-side capture; both capture points agree).
	SynRetransmits    int `json:"syn_retransmits"`
	SynackRetransmits int `json:"synack_retransmits"`
	// FirstFinBy is "client", "server", "both" (the FINs crossed: each
	// capture point sees its own side's FIN first) or null.
	FirstFinBy *string `json:"first_fin_by"`
	// ResetBy is the side that sent the (first) RST, or null.
	ResetBy *string `json:"reset_by"`
	// ClientResult and ServerResult are the first error the socket API
	// returned to that side for this connection ("ok" if none; "none"
	// when that side had no socket for it, e.g. no listener).
	ClientResult string `json:"client_result"`
	ServerResult string `json:"server_result"`
	Note         string `json:"note"`
}

// ListenerTruth describes one listening socket of a scenario.
type ListenerTruth struct {
	Server    string `json:"server"`
	Overflow  bool   `json:"overflow"`
	Backlog   int    `json:"backlog"`
	Somaxconn int    `json:"somaxconn"`
	// OverflowClients is how many of the listener's clients hit the full
	// accept queue (their handshake ACK or SYN was dropped or reset).
	OverflowClients int `json:"overflow_clients"`
}
