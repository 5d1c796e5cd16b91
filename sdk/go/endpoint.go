package miko

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is an endpoint's health as Miko reports it.
type Status string

const (
	StatusPassing  Status = "passing"
	StatusWarning  Status = "warning"
	StatusCritical Status = "critical"
)

// AddressKind selects which of an endpoint's addresses the client uses.
type AddressKind int

const (
	// Public uses endpoints' public addresses; endpoints without one are left out. The default.
	Public AddressKind = iota
	// Internal uses internal addresses, falling back to the public one where an endpoint has no
	// internal address. Miko shows internal addresses only to tokens with the internal (or admin)
	// role; with any other token Internal behaves like Public.
	Internal
)

func (k AddressKind) String() string {
	if k == Internal {
		return "internal"
	}
	return "public"
}

// Endpoint is one instance of a service, as listed by Miko.
type Endpoint struct {
	ID              string
	Service         string
	PublicAddress   string // URL or host:port; "" when it has none
	InternalAddress string // only visible to tokens with the internal role
	Protocol        string // http, https, grpc, tcp, ws or wss
	Weight          int
	Zone            string
	Tags            []string
	Metadata        map[string]string
	Status          Status
	Source          string // "static" (from Miko's configuration) or "registered"
	RegisteredAt    time.Time
	LastSeenAt      time.Time
	TTL             time.Duration // 0 when the endpoint has no lease

	// Address is the address this client uses for the endpoint: the internal or public one,
	// according to the client's AddressKind.
	Address string

	target endpointTarget
}

// Passing reports whether Miko considers the endpoint healthy.
func (e Endpoint) Passing() bool { return e.Status == StatusPassing }

type wireEndpoint struct {
	ID              string            `json:"id"`
	Service         string            `json:"service"`
	PublicAddress   string            `json:"publicAddress"`
	InternalAddress string            `json:"internalAddress"`
	Protocol        string            `json:"protocol"`
	Weight          int               `json:"weight"`
	Zone            string            `json:"zone"`
	Tags            []string          `json:"tags"`
	Metadata        map[string]string `json:"metadata"`
	Status          Status            `json:"status"`
	Source          string            `json:"source"`
	RegisteredAt    string            `json:"registeredAt"`
	LastSeenAt      string            `json:"lastSeenAt"`
	TTL             string            `json:"ttl"`
}

func (w *wireEndpoint) toEndpoint() Endpoint {
	e := Endpoint{
		ID:              w.ID,
		Service:         w.Service,
		PublicAddress:   w.PublicAddress,
		InternalAddress: w.InternalAddress,
		Protocol:        w.Protocol,
		Weight:          w.Weight,
		Zone:            w.Zone,
		Tags:            w.Tags,
		Metadata:        w.Metadata,
		Status:          w.Status,
		Source:          w.Source,
	}
	e.RegisteredAt, _ = time.Parse(time.RFC3339Nano, w.RegisteredAt)
	e.LastSeenAt, _ = time.Parse(time.RFC3339Nano, w.LastSeenAt)
	if w.TTL != "" {
		e.TTL, _ = parseDuration(w.TTL)
	}
	return e
}

// withAddress fills Address and the request target for the given address kind; false when the
// endpoint has no usable address of that kind.
func (e Endpoint) withAddress(kind AddressKind) (Endpoint, bool) {
	addr := e.PublicAddress
	if kind == Internal && e.InternalAddress != "" {
		addr = e.InternalAddress
	}
	if addr == "" {
		return e, false
	}
	e.Address = addr
	e.target, _ = parseTarget(addr, e.Protocol)
	return e, true
}

type wireList struct {
	Index    uint64                    `json:"index"`
	Services map[string][]wireEndpoint `json:"services"`
}

type wireError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Message string `json:"message"`
}

func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	var w wireError
	if json.Unmarshal(body, &w) == nil {
		if w.Error != nil {
			e.Code, e.Message = w.Error.Code, w.Error.Message
		} else {
			e.Message = w.Message
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	return e
}

// formatDuration writes d the way Miko reads durations: whole milliseconds ("1500ms"), at least 1ms.
func formatDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms < 1 {
		ms = 1
	}
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// parseDuration reads Miko's durations: one or more number+unit parts, units ms, s, m, h, d
// ("15s", "1s500ms", "1.5m").
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		rest = rest[i:]
		var unit time.Duration
		switch {
		case strings.HasPrefix(rest, "ms"):
			unit, rest = time.Millisecond, rest[2:]
		case strings.HasPrefix(rest, "s"):
			unit, rest = time.Second, rest[1:]
		case strings.HasPrefix(rest, "m"):
			unit, rest = time.Minute, rest[1:]
		case strings.HasPrefix(rest, "h"):
			unit, rest = time.Hour, rest[1:]
		case strings.HasPrefix(rest, "d"):
			unit, rest = 24*time.Hour, rest[1:]
		default:
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += time.Duration(n * float64(unit))
	}
	return total, nil
}
