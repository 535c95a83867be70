package report

import "github.com/tcpwhy/tcpwhy/classify"

// The flow record as a struct for encoding/json: the oracle that
// appendFlowRecord (which writes the records) is tested against.

type jsonReset struct {
	By              string        `json:"by"`
	Generator       string        `json:"generator"`
	Reason          string        `json:"reason"`
	Accepted        bool          `json:"accepted"`
	Packet          int64         `json:"packet"`
	InjectedSuspect *jsonInjected `json:"injected_suspect"`
}

type jsonInjected struct {
	Packet       int64    `json:"packet"`
	TTL          uint8    `json:"ttl"`
	SenderTTLMin uint8    `json:"sender_ttl_min"`
	SenderTTLMax uint8    `json:"sender_ttl_max"`
	IPID         uint16   `json:"ip_id"`
	Evidence     []string `json:"evidence"`
}

type jsonZeek struct {
	ConnState string `json:"conn_state"`
	History   string `json:"history"`
}

type jsonCounters struct {
	Client classify.Counters `json:"client"`
	Server classify.Counters `json:"server"`
}

type jsonFlow struct {
	Type              string       `json:"type"`
	ID                int64        `json:"id"`
	Client            string       `json:"client"`
	Server            string       `json:"server"`
	RolesGuessed      bool         `json:"roles_guessed"`
	Verdict           string       `json:"verdict"`
	SYNRetransmits    int          `json:"syn_retransmits"`
	SYNACKRetransmits int          `json:"synack_retransmits"`
	SYNGaps           []float64    `json:"syn_gaps"`
	SYNSchedule       []string     `json:"syn_schedule"`
	SYNGiveUp         *float64     `json:"syn_give_up_s"`
	SYNACKGaps        []float64    `json:"synack_gaps"`
	HandshakeRTT      *float64     `json:"handshake_rtt_s"`
	FirstFINBy        *string      `json:"first_fin_by"`
	Reset             *jsonReset   `json:"reset"`
	Zeek              jsonZeek     `json:"zeek"`
	Counters          jsonCounters `json:"counters"`
	Packets           [2]int64     `json:"packets"`
	Start             string       `json:"start"`
	End               string       `json:"end"`
	ClientPackets     int          `json:"client_packets"`
	ServerPackets     int          `json:"server_packets"`
	ClientBytes       int64        `json:"client_bytes"`
	ServerBytes       int64        `json:"server_bytes"`
	Evidence          []int64      `json:"evidence"`
	Explanation       string       `json:"explanation"`
	Notes             []string     `json:"notes"`
	Evicted           bool         `json:"evicted"`
}

func flowRecord(r *classify.FlowResult) jsonFlow {
	j := jsonFlow{Type: "flow", ID: r.ID, Client: r.Client.String(), Server: r.Server.String(),
		RolesGuessed: r.RolesGuessed, Verdict: string(r.Verdict), SYNRetransmits: r.SYNRetransmits,
		SYNACKRetransmits: r.SYNACKRetransmits, SYNGaps: []float64{}, SYNSchedule: []string{},
		SYNACKGaps: nonNil(r.SYNACKGaps), Zeek: jsonZeek{ConnState: r.ZeekState, History: r.ZeekHistory},
		Counters: jsonCounters{Client: r.ClientCounters, Server: r.ServerCounters},
		Packets:  [2]int64{r.FirstPacket, r.LastPacket}, Start: timeString(r.Start), End: timeString(r.End),
		ClientPackets: r.ClientPackets, ServerPackets: r.ServerPackets, ClientBytes: r.ClientBytes, ServerBytes: r.ServerBytes,
		Evidence: nonNil(r.Evidence), Explanation: r.Explanation, Notes: nonNil(r.Notes), Evicted: r.Evicted}
	if r.SYN != nil {
		j.SYNGaps = nonNil(r.SYN.Gaps)
		j.SYNSchedule = nonNil(r.SYN.Matches)
		if r.SYN.GiveUp > 0 {
			g := r.SYN.GiveUp
			j.SYNGiveUp = &g
		}
	}
	if r.HandshakeRTT >= 0 {
		rtt := r.HandshakeRTT
		j.HandshakeRTT = &rtt
	}
	if r.FirstFINBy != "" {
		s := string(r.FirstFINBy)
		j.FirstFINBy = &s
	}
	if r.Reset != nil {
		j.Reset = &jsonReset{By: string(r.Reset.By), Generator: r.Reset.Generator, Reason: r.Reset.Reason,
			Accepted: r.Reset.Accepted, Packet: r.Reset.Packet}
		if in := r.Reset.InjectedSuspect; in != nil {
			j.Reset.InjectedSuspect = &jsonInjected{Packet: in.Packet, TTL: in.TTL, SenderTTLMin: in.SenderTTLMin,
				SenderTTLMax: in.SenderTTLMax, IPID: in.IPID, Evidence: nonNil(in.Evidence)}
		}
	}
	return j
}

// The host record as a struct for encoding/json: the oracle of
// appendHostRecord.

type jsonHost struct {
	Type     string            `json:"type"`
	IP       string            `json:"ip"`
	Counters classify.Counters `json:"counters"`
	// CountersNetstat are the same deltas keyed by the words `netstat -s`
	// prints for them.
	CountersNetstat map[string]int `json:"counters_netstat"`
}

func hostRecord(h *classify.Host) jsonHost {
	j := jsonHost{Type: "host", IP: h.IP.String(), Counters: h.Counters, CountersNetstat: map[string]int{}}
	for k, v := range h.Counters {
		j.CountersNetstat[classify.NetstatPhrase(k)] += v
	}
	return j
}
