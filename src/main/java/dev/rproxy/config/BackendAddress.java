package dev.rproxy.config;

import java.util.Locale;

/**
 * A backend URL taken apart. Accepted forms: {@code http://host:port} and {@code http://host}
 * (port 80), each with an optional trailing {@code /}; the host is a name, an IPv4 address or a
 * bracketed IPv6 address. No path, query, fragment or user info: the proxy forwards the client's
 * request target unchanged.
 *
 * @param host         lower-case host name or address, IPv6 without brackets
 * @param port         1..65535
 * @param explicitPort whether the URL spelled the port out
 */
record BackendAddress(String host, int port, boolean explicitPort) {

    private static final int DEFAULT_PORT = 80;

    /** Parses {@code url}; failures are {@code url: ...} messages relative to the backend. */
    static BackendAddress parse(String url) {
        Checks.required("url", url);
        int schemeEnd = url.indexOf("://");
        if (schemeEnd < 0) {
            throw invalid(url, null);
        }
        String scheme = url.substring(0, schemeEnd);
        if (scheme.equalsIgnoreCase("https")) {
            throw invalid(url, "https is not supported yet");
        }
        if (!scheme.equalsIgnoreCase("http")) {
            throw invalid(url, null);
        }
        String authority = url.substring(schemeEnd + 3);
        if (authority.endsWith("/")) {
            authority = authority.substring(0, authority.length() - 1);
        }
        checkNoExtras(url, authority);
        return authority.startsWith("[") ? parseBracketed(url, authority) : parsePlain(url, authority);
    }

    private static void checkNoExtras(String url, String authority) {
        for (int i = 0; i < authority.length(); i++) {
            char c = authority.charAt(i);
            if (c == '/' || c == '?' || c == '#') {
                throw invalid(url, "no path, query or fragment allowed");
            }
            if (c == '@') {
                throw invalid(url, "no user info allowed");
            }
        }
    }

    private static BackendAddress parseBracketed(String url, String authority) {
        int close = authority.indexOf(']');
        if (close < 0) {
            throw invalid(url, null);
        }
        String host = authority.substring(1, close);
        boolean ipv6 = host.indexOf(':') >= 0 && host.chars().allMatch(c -> c == ':' || c == '.'
                || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
        if (!ipv6) {
            throw invalid(url, null);
        }
        return withPort(url, host, authority.substring(close + 1));
    }

    private static BackendAddress parsePlain(String url, String authority) {
        int colon = authority.indexOf(':');
        String host = colon < 0 ? authority : authority.substring(0, colon);
        boolean name = !host.isEmpty() && host.chars().allMatch(c -> c == '-' || c == '.' || c == '_'
                || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
        if (!name) {
            throw invalid(url, null);
        }
        return withPort(url, host, colon < 0 ? "" : authority.substring(colon));
    }

    /** {@code rest} is what follows the host: empty, or {@code :digits}. */
    private static BackendAddress withPort(String url, String host, String rest) {
        String lowerHost = host.toLowerCase(Locale.ROOT);
        if (rest.isEmpty()) {
            return new BackendAddress(lowerHost, DEFAULT_PORT, false);
        }
        String digits = rest.substring(1);
        if (rest.charAt(0) != ':' || digits.isEmpty() || digits.length() > 5
                || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw invalid(url, null);
        }
        int port = Integer.parseInt(digits);
        if (port < 1 || port > 65535) {
            throw invalid(url, "port must be 1..65535");
        }
        return new BackendAddress(lowerHost, port, true);
    }

    private static ConfigException invalid(String url, String reason) {
        return new ConfigException("url: expected http://host:port, got " + Checks.quote(url)
                + (reason == null ? "" : " (" + reason + ")"));
    }

    /** The host as it appears in a URL or Host header: IPv6 addresses in brackets. */
    String hostForUri() {
        return host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    }

    /** {@code host:port}, always with the port. */
    String authority() {
        return hostForUri() + ":" + port;
    }

    /** {@code http://host[:port]}: the port only if the URL had one, no trailing slash. */
    String url() {
        return "http://" + hostForUri() + (explicitPort ? ":" + port : "");
    }
}
