package dev.rproxy.config;

/**
 * One backend server.
 *
 * <p>The compact constructor normalises {@code url} (lower-case scheme and host, no trailing
 * slash), so {@code url()} is always {@code http://host} or {@code http://host:port}; {@code host()}
 * and {@code port()} are read back from it. A missing {@code id} defaults to {@code host:port}
 * ({@code [::1]:3001} for IPv6).
 *
 * @param id  unique name used in logs and in the proxy's {@code /_health} output
 * @param url {@code http://host:port} or {@code http://host} (port 80)
 */
public record BackendConfig(String id, String url) {

    public BackendConfig {
        BackendAddress address = BackendAddress.parse(url);
        url = address.url();
        id = id == null ? address.authority() : Checks.token("id", id);
    }

    /** Host name or address to connect to; IPv6 addresses come without brackets. */
    public String host() {
        return BackendAddress.parse(url).host();
    }

    /** Port to connect to; 80 when the URL has none. */
    public int port() {
        return BackendAddress.parse(url).port();
    }
}
