package miko

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// validServiceName reports whether name is a DNS label (^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$),
// the shape Miko requires of service names.
func validServiceName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// parseMikoAddress turns "http://host:port[/prefix]", "https://…" or "host:port" into a base URL
// without a trailing slash.
func parseMikoAddress(address string) (*url.URL, error) {
	raw := strings.TrimSpace(address)
	bad := func(reason string) (*url.URL, error) {
		return nil, &AddressError{Address: address, Reason: reason}
	}
	if raw == "" {
		return bad("empty: pass Miko's address or set MIKO_ADDRESS")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return bad("contains white space")
	}
	if !strings.Contains(raw, "://") {
		if _, _, err := net.SplitHostPort(raw); err != nil {
			return bad(`expected a URL such as "http://127.0.0.1:8740" or a "host:port"`)
		}
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad(err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("the scheme must be http or https, found " + strconv.Quote(u.Scheme))
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("the port must be a number from 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	if u.User != nil {
		return bad("credentials in the address are not supported; use WithToken")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return bad("a query or fragment is not allowed")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// endpointTarget is where requests for an endpoint go: scheme, host:port and an optional path prefix.
type endpointTarget struct {
	scheme string // "" = keep the request's scheme
	host   string
	path   string // prefix without a trailing slash, or ""
}

// parseTarget reads an endpoint address (a URL or host:port) into a target. The scheme comes from
// the URL, else from the endpoint's protocol when it is an HTTP one.
func parseTarget(address, protocol string) (endpointTarget, bool) {
	if address == "" {
		return endpointTarget{}, false
	}
	if !strings.Contains(address, "://") {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return endpointTarget{}, false
		}
		return endpointTarget{scheme: schemeOf(protocol), host: address}, true
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return endpointTarget{}, false
	}
	scheme := schemeOf(u.Scheme)
	if scheme == "" {
		scheme = schemeOf(protocol)
	}
	return endpointTarget{scheme: scheme, host: u.Host, path: strings.TrimRight(u.EscapedPath(), "/")}, true
}

func schemeOf(protocol string) string {
	switch strings.ToLower(protocol) {
	case "http", "ws":
		return "http"
	case "https", "wss":
		return "https"
	}
	return ""
}
