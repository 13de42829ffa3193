package dev.rproxy.config;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One listener: where the proxy accepts client connections, which protocols it speaks there and,
 * for HTTPS, its TLS settings.
 *
 * @param host      local address to bind, e.g. {@code 0.0.0.0} or {@code ::}
 * @param port      local port, 0..65535; 0 picks an ephemeral port (tests)
 * @param protocols the protocols offered, in order of preference (over TLS, the ALPN list); today
 *                  {@code http/1.1}
 * @param tls       {@code null} for plaintext
 */
public record ListenConfig(String host, int port, List<String> protocols, TlsConfig tls) {

    public static final String HTTP_1_1 = "http/1.1";
    /** Every protocol name a listener may name; those not in {@link #SUPPORTED} are refused for now. */
    static final List<String> KNOWN = List.of(HTTP_1_1, "h2", "h2c");
    static final List<String> SUPPORTED = List.of(HTTP_1_1);

    public static final ListenConfig DEFAULT = new ListenConfig("0.0.0.0", 8080);

    public ListenConfig {
        Checks.token("host", host);
        Checks.between("port", port, 0, 65535);
        protocols = checkProtocols(Objects.requireNonNullElse(protocols, List.of(HTTP_1_1)));
    }

    /** A plaintext HTTP/1.1 listener. */
    public ListenConfig(String host, int port) {
        this(host, port, null, null);
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
            if (!SUPPORTED.contains(protocol)) {
                throw new ConfigException(name + ": " + Checks.quote(protocol) + " is not supported yet (supported: "
                        + String.join(", ", SUPPORTED.stream().map(Checks::quote).toList()) + ")");
            }
            if (!seen.add(protocol)) {
                throw new ConfigException(name + ": " + Checks.quote(protocol) + " named twice");
            }
        }
        return List.copyOf(protocols);
    }
}
