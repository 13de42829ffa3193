package dev.rproxy.config;

/**
 * One backend server.
 *
 * <p>The compact constructor normalises {@code url} (lower-case scheme and host, no trailing
 * slash), so {@code url()} is always {@code http[s]://host} or {@code http[s]://host:port}; {@code
 * host()} and {@code port()} are read back from it. A missing {@code id} defaults to {@code
 * host:port} ({@code [::1]:3001} for IPv6).
 *
 * @param id       unique name used in logs and in the proxy's {@code /_health} output
 * @param url      {@code http://host:port}, {@code http://host} (port 80), or the same with {@code
 *                 https} (port 443)
 * @param tls      TLS settings of an {@code https} backend ({@link BackendTlsConfig#DEFAULT} when
 *                 not given); {@code null} for {@code http}, where giving them is an error
 * @param protocol what the proxy speaks to it: {@code http/1.1} (the default), {@code h2} (HTTP/2
 *                 over TLS, agreed by ALPN; an {@code https} URL) or {@code h2c} (HTTP/2 with prior
 *                 knowledge; an {@code http} URL)
 * @param weight   its share of the requests relative to the others', 1..{@value #MAX_WEIGHT}
 *                 (default 1)
 */
public record BackendConfig(String id, String url, BackendTlsConfig tls, String protocol, int weight) {

    public static final String HTTP_1_1 = ListenConfig.HTTP_1_1;
    public static final String H2 = ListenConfig.H2;
    public static final String H2C = ListenConfig.H2C;
    public static final int MAX_WEIGHT = 1000;

    public BackendConfig {
        BackendAddress address = BackendAddress.parse(url);
        url = address.url();
        id = id == null ? address.authority() : Checks.token("id", id);
        if (!address.tls() && tls != null) {
            throw new ConfigException("tls: only for https:// backends");
        }
        if (address.tls() && tls == null) {
            tls = BackendTlsConfig.DEFAULT;
        }
        protocol = protocol == null ? HTTP_1_1 : Checks.oneOf("protocol", protocol, ListenConfig.KNOWN);
        if (protocol.equals(H2) && !address.tls()) {
            throw new ConfigException("protocol: \"h2\" needs an https:// url (HTTP/2 over plaintext is \"h2c\")");
        }
        if (protocol.equals(H2C) && address.tls()) {
            throw new ConfigException("protocol: \"h2c\" needs an http:// url (HTTP/2 over TLS is \"h2\")");
        }
        Checks.between("weight", weight, 1, MAX_WEIGHT);
    }

    /** A backend of weight 1. */
    public BackendConfig(String id, String url, BackendTlsConfig tls, String protocol) {
        this(id, url, tls, protocol, 1);
    }

    /** An HTTP/1.1 backend. */
    public BackendConfig(String id, String url, BackendTlsConfig tls) {
        this(id, url, tls, null);
    }

    /** An HTTP/1.1 backend without TLS settings of its own. */
    public BackendConfig(String id, String url) {
        this(id, url, null, null);
    }

    /** Whether the proxy speaks HTTP/2 to it ({@code h2} or {@code h2c}). */
    public boolean http2() {
        return !protocol.equals(HTTP_1_1);
    }

    /** Host name or address to connect to; IPv6 addresses come without brackets. */
    public String host() {
        return BackendAddress.parse(url).host();
    }

    /** Port to connect to; 80 (443 for https) when the URL has none. */
    public int port() {
        return BackendAddress.parse(url).port();
    }
}
