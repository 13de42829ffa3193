package dev.rproxy.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Optional request checks at the edge, off by default (targets are forwarded byte-exact).
 *
 * @param rejectDotSegments refuse (400) targets with {@code .} or {@code ..} path segments, also
 *     percent-encoded, and any encoded NUL ({@code %00})
 * @param allowedMethods the only methods forwarded (others get 405 with {@code Allow}); empty: all
 */
public record SecurityConfig(boolean rejectDotSegments, List<String> allowedMethods) {

    public static final SecurityConfig DEFAULT = new SecurityConfig(false, List.of());

    public SecurityConfig {
        List<String> methods = new ArrayList<>();
        List<String> given = allowedMethods == null ? List.of() : allowedMethods;
        for (int i = 0; i < given.size(); i++) {
            methods.add(Checks.token("allowedMethods[" + i + "]", given.get(i)).toUpperCase(Locale.ROOT));
        }
        allowedMethods = List.copyOf(methods);
    }
}
