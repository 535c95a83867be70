package capture

import (
	"strconv"

	"github.com/gopacket/gopacket/layers"
)

// Link types without a name in the layers package.
const (
	linkTypeRawBSD    layers.LinkType = 12 // DLT_RAW on most BSDs
	linkTypeRawOpenBS layers.LinkType = 14 // DLT_RAW on BSD/OS and OpenBSD
)

// linkTypeNames are libpcap's names (pcap_datalink_val_to_name) for the
// link types a capture file commonly carries.
var linkTypeNames = map[layers.LinkType]string{
	layers.LinkTypeNull:           "NULL",
	layers.LinkTypeEthernet:       "EN10MB",
	layers.LinkTypeTokenRing:      "IEEE802",
	layers.LinkTypeArcNet:         "ARCNET",
	layers.LinkTypeSLIP:           "SLIP",
	layers.LinkTypePPP:            "PPP",
	layers.LinkTypeFDDI:           "FDDI",
	linkTypeRawBSD:                "RAW",
	linkTypeRawOpenBS:             "RAW",
	layers.LinkTypePPP_HDLC:       "PPP_HDLC",
	layers.LinkTypePPPEthernet:    "PPP_ETHER",
	layers.LinkTypeATM_RFC1483:    "ATM_RFC1483",
	layers.LinkTypeRaw:            "RAW",
	layers.LinkTypeC_HDLC:         "C_HDLC",
	layers.LinkTypeIEEE802_11:     "IEEE802_11",
	layers.LinkTypeFRelay:         "FRELAY",
	layers.LinkTypeLoop:           "LOOP",
	layers.LinkTypeLinuxSLL:       "LINUX_SLL",
	layers.LinkTypeLTalk:          "LTALK",
	layers.LinkTypePFLog:          "PFLOG",
	layers.LinkTypePrismHeader:    "PRISM_HEADER",
	layers.LinkTypeIPOverFC:       "IP_OVER_FC",
	layers.LinkTypeSunATM:         "SUNATM",
	layers.LinkTypeIEEE80211Radio: "IEEE802_11_RADIO",
	layers.LinkTypeARCNetLinux:    "ARCNET_LINUX",
	layers.LinkTypeIPOver1394:     "IP_OVER_1394",
	layers.LinkTypeMTP2Phdr:       "MTP2_WITH_PHDR",
	layers.LinkTypeMTP2:           "MTP2",
	layers.LinkTypeMTP3:           "MTP3",
	layers.LinkTypeSCCP:           "SCCP",
	layers.LinkTypeDOCSIS:         "DOCSIS",
	layers.LinkTypeLinuxIRDA:      "LINUX_IRDA",
	layers.LinkTypeLinuxLAPD:      "LINUX_LAPD",
	layers.LinkTypeLinuxUSB:       "USB_LINUX",
	layers.LinkTypeFC2:            "FC_2",
	layers.LinkTypeFC2Framed:      "FC_2_WITH_FRAME_DELIMS",
	layers.LinkTypeIPv4:           "IPV4",
	layers.LinkTypeIPv6:           "IPV6",
	layers.LinkTypeLinuxSLL2:      "LINUX_SLL2",
}

// LinkTypeName returns libpcap's name for a link type (e.g. "EN10MB",
// "LINUX_SLL2"), or "LINKTYPE_<n>" for one it does not know.
func LinkTypeName(lt layers.LinkType) string {
	if name, ok := linkTypeNames[lt]; ok {
		return name
	}
	return "LINKTYPE_" + strconv.Itoa(int(lt))
}

// Supported reports whether packets of link type lt can be decoded.
func Supported(lt layers.LinkType) bool {
	return firstLayer(lt) != firstNone
}

// first is the layer a link type's packets start with; it selects the
// decoder's parser.
type first uint8

const (
	firstNone first = iota
	firstEthernet
	firstSLL
	firstSLL2
	firstLoopback
	firstIPv4
	firstIPv6
	firstRawIP // IPv4 or IPv6, from the version nibble
	nFirst
)

func firstLayer(lt layers.LinkType) first {
	switch lt {
	case layers.LinkTypeEthernet:
		return firstEthernet
	case layers.LinkTypeLinuxSLL:
		return firstSLL
	case layers.LinkTypeLinuxSLL2:
		return firstSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return firstLoopback
	case layers.LinkTypeIPv4:
		return firstIPv4
	case layers.LinkTypeIPv6:
		return firstIPv6
	case layers.LinkTypeRaw, linkTypeRawBSD, linkTypeRawOpenBS:
		return firstRawIP
	}
	return firstNone
}
