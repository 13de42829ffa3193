package dev.rproxy.config;

/**
 * One backend server.
 *
 * <p>The compact constructor normalises {@code url} (lower-case scheme and host, no trailing
 * slash), so {@code url()} is always {@code http[s]://host} or {@code http[s]://host:port}; {@code
 * host()} and {@code port()} are read back from it. A missing {@code id} defaults to {@code
 * host:port} ({@code [::1]:3001} for IPv6).
 *
 * @param id  unique name used in logs and in the proxy's {@code /_health} output
 * @param url {@code http://host:port}, {@code http://host} (port 80), or the same with {@code
 *            https} (port 443)
 * @param tls TLS settings of an {@code https} backend ({@link BackendTlsConfig#DEFAULT} when not
 *            given); {@code null} for {@code http}, where giving them is an error
 */
public record BackendConfig(String id, String url, BackendTlsConfig tls) {

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
    }

    /** A backend without TLS settings of its own. */
    public BackendConfig(String id, String url) {
        this(id, url, null);
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
