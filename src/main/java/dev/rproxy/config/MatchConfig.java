package dev.rproxy.config;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a request must have for a route to take it; an absent condition matches everything.
 *
 * @param host       {@code api.example.test} (exact) or {@code *.example.test} (its subdomains, not
 *                   itself); compared without the port and case-insensitively; kept lower-case
 * @param pathPrefix a path starting with {@code /}, matched by whole segments ({@code /v1} takes
 *                   {@code /v1} and {@code /v1/x}, not {@code /v12}); a trailing {@code /} is part
 *                   of the prefix
 * @param methods    request methods, upper-case tokens; {@code null}: any
 * @param headers    field name to the exact value one of the request's fields of that name must
 *                   have ({@code "*"}: present with any value); names compared case-insensitively
 */
public record MatchConfig(String host, String pathPrefix, List<String> methods, Map<String, String> headers) {

    public static final MatchConfig ANY = new MatchConfig(null, null, null, null);

    public MatchConfig {
        if (host != null) {
            host = checkHost(host);
        }
        if (pathPrefix != null && (!pathPrefix.startsWith("/") || pathPrefix.chars().anyMatch(c -> c <= ' ' || c >= 0x7f
                || c == '?' || c == '#'))) {
            throw new ConfigException("pathPrefix: " + Checks.quote(pathPrefix)
                    + " (expected: a path starting with \"/\", visible ASCII, no query)");
        }
        if (methods != null) {
            if (methods.isEmpty()) {
                throw new ConfigException("methods: empty (expected: at least one method, or no key for any)");
            }
            for (int i = 0; i < methods.size(); i++) {
                Checks.token("methods[" + i + "]", methods.get(i));
            }
            methods = List.copyOf(methods);
        }
        if (headers != null) {
            for (String name : headers.keySet()) {
                Checks.token("headers", name);
            }
            headers = Map.copyOf(headers);
        }
    }

    private static String checkHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        String name = h.startsWith("*.") ? h.substring(2) : h;
        if (name.isEmpty() || !name.chars().allMatch(c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_')) {
            throw new ConfigException("host: " + Checks.quote(host)
                    + " (expected: a host name such as api.example.test or *.example.test, no port)");
        }
        return h;
    }
}
