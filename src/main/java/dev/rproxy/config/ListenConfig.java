package dev.rproxy.config;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * One listener: where the proxy accepts client connections, which protocols it speaks there and,
 * for HTTPS, its TLS settings.
 *
 * @param host      local address to bind, e.g. {@code 0.0.0.0} or {@code ::}
 * @param port      local port, 0..65535; 0 picks an ephemeral port (tests)
 * @param protocols the protocols offered: {@code http/1.1}, and {@code h2} (TLS, by ALPN, in the
 *                  order given) or {@code h2c} (plaintext, with prior knowledge)
 * @param tls       {@code null} for plaintext
 * @param proxyProtocol every connection starts with a PROXY protocol header (v1 or v2, as HAProxy
 *                  and cloud load balancers send it) that names the client; one without is closed
 * @param allowedHosts the host names this listener serves ({@code api.example.test}, or {@code
 *                  *.example.test} for its subdomains), compared without port and case; a request
 *                  for another gets 421. Empty: any
 */
public record ListenConfig(String host, int port, List<String> protocols, TlsConfig tls, boolean proxyProtocol,
                           List<String> allowedHosts) {

    public static final String HTTP_1_1 = "http/1.1";
    /** HTTP/2 over TLS, chosen by ALPN. */
    public static final String H2 = "h2";
    /** HTTP/2 over plaintext, with prior knowledge (RFC 9113 section 3.3). */
    public static final String H2C = "h2c";
    static final List<String> KNOWN = List.of(HTTP_1_1, H2, H2C);

    public static final ListenConfig DEFAULT = new ListenConfig("0.0.0.0", 8080);

    public ListenConfig {
        Checks.token("host", host);
        Checks.between("port", port, 0, 65535);
        protocols = checkProtocols(Objects.requireNonNullElse(protocols, List.of(HTTP_1_1)));
        if (tls == null && protocols.contains(H2)) {
            throw new ConfigException("protocols: \"h2\" needs tls (HTTP/2 over plaintext is \"h2c\")");
        }
        if (tls != null && protocols.contains(H2C)) {
            throw new ConfigException("protocols: \"h2c\" is for plaintext listeners (over TLS it is \"h2\")");
        }
        allowedHosts = allowedHosts == null ? List.of() : allowedHosts.stream().map(h -> h.toLowerCase(Locale.ROOT)).toList();
        for (int i = 0; i < allowedHosts.size(); i++) {
            String h = allowedHosts.get(i);
            String name = h.startsWith("*.") ? h.substring(2) : h;
            if (name.isEmpty() || !name.chars().allMatch(c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
                    || c == '.' || c == '_') || name.startsWith(".") || name.endsWith(".")) {
                throw new ConfigException("allowedHosts[" + i + "]: " + Checks.quote(h)
                        + " (expected: a host name such as api.example.test or *.example.test, no port)");
            }
        }
    }

    /** Whether {@code host} (a {@code Host} field's value, valid as an authority) is one this listener serves. */
    public boolean allowsHost(String host) {
        if (allowedHosts.isEmpty()) {
            return true;
        }
        if (host == null || host.startsWith("[")) {
            return false;
        }
        int end = host.indexOf(':');
        end = end < 0 ? host.length() : end;
        if (end > 0 && host.charAt(end - 1) == '.') {
            end--;
        }
        for (String allowed : allowedHosts) {
            if (allowed.startsWith("*.")) {
                int suffix = allowed.length() - 1; // ".example.test"
                if (end > suffix && host.regionMatches(true, end - suffix, allowed, 1, suffix)) {
                    return true;
                }
            } else if (end == allowed.length() && host.regionMatches(true, 0, allowed, 0, end)) {
                return true;
            }
        }
        return false;
    }

    /** A plaintext HTTP/1.1 listener. */
    public ListenConfig(String host, int port) {
        this(host, port, null, null);
    }

    /** A listener whose connections start with HTTP (or TLS), no PROXY header. */
    public ListenConfig(String host, int port, List<String> protocols, TlsConfig tls) {
        this(host, port, protocols, tls, false, null);
    }

    /** {@code https} on a TLS listener, {@code http} otherwise: what {@code X-Forwarded-Proto} says. */
    public String scheme() {
        return tls == null ? "http" : "https";
    }

    private static List<String> checkProtocols(List<String> protocols) {
        if (protocols.isEmpty()) {
            throw new ConfigException("protocols: empty (expected: at least one of "
                    + String.join(", ", KNOWN.stream().map(Checks::quote).toList()) + ")");
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < protocols.size(); i++) {
            String name = "protocols[" + i + "]";
            String protocol = Checks.oneOf(name, protocols.get(i), KNOWN);
            if (!seen.add(protocol)) {
                throw new ConfigException(name + ": " + Checks.quote(protocol) + " named twice");
            }
        }
        return List.copyOf(protocols);
    }
}
