package dev.rproxy.config;

import java.util.Locale;

/**
 * A backend URL taken apart. Accepted forms: {@code http://host:port}, {@code http://host} (port
 * 80), and the same with {@code https} (port 443), each with an optional trailing {@code /}; the
 * host is a name, an IPv4 address or a bracketed IPv6 address. No path, query, fragment or user
 * info: the proxy forwards the client's request target unchanged.
 *
 * @param tls          {@code https}
 * @param host         lower-case host name or address, IPv6 without brackets
 * @param port         1..65535
 * @param explicitPort whether the URL spelled the port out
 */
record BackendAddress(boolean tls, String host, int port, boolean explicitPort) {

    /** Parses {@code url}; failures are {@code url: ...} messages relative to the backend. */
    static BackendAddress parse(String url) {
        Checks.required("url", url);
        int schemeEnd = url.indexOf("://");
        if (schemeEnd < 0) {
            throw invalid(url, null);
        }
        String scheme = url.substring(0, schemeEnd);
        boolean tls = scheme.equalsIgnoreCase("https");
        if (!tls && !scheme.equalsIgnoreCase("http")) {
            throw invalid(url, null);
        }
        String authority = url.substring(schemeEnd + 3);
        if (authority.endsWith("/")) {
            authority = authority.substring(0, authority.length() - 1);
        }
        checkNoExtras(url, authority);
        return authority.startsWith("[") ? parseBracketed(url, tls, authority) : parsePlain(url, tls, authority);
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

    private static BackendAddress parseBracketed(String url, boolean tls, String authority) {
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
        return withPort(url, tls, host, authority.substring(close + 1));
    }

    private static BackendAddress parsePlain(String url, boolean tls, String authority) {
        int colon = authority.indexOf(':');
        String host = colon < 0 ? authority : authority.substring(0, colon);
        boolean name = !host.isEmpty() && host.chars().allMatch(c -> c == '-' || c == '.' || c == '_'
                || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
        if (!name) {
            throw invalid(url, null);
        }
        return withPort(url, tls, host, colon < 0 ? "" : authority.substring(colon));
    }

    /** {@code rest} is what follows the host: empty, or {@code :digits}. */
    private static BackendAddress withPort(String url, boolean tls, String host, String rest) {
        String lowerHost = host.toLowerCase(Locale.ROOT);
        if (rest.isEmpty()) {
            return new BackendAddress(tls, lowerHost, tls ? 443 : 80, false);
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
        return new BackendAddress(tls, lowerHost, port, true);
    }

    private static ConfigException invalid(String url, String reason) {
        return new ConfigException("url: expected http://host:port or https://host:port, got " + Checks.quote(url)
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

    /** {@code http[s]://host[:port]}: the port only if the URL had one, no trailing slash. */
    String url() {
        return (tls ? "https://" : "http://") + hostForUri() + (explicitPort ? ":" + port : "");
    }
}
