package dev.rproxy.edge;

import dev.rproxy.config.JwtConfig;
import java.util.HashMap;
import java.util.Map;

/**
 * The token verifiers of a configuration, one per distinct {@code auth.jwt} section (routes with
 * the same section share its keys and cache). A reload takes over the verifiers whose section is
 * unchanged, with their keys, so it neither refetches a key set nor fails requests meanwhile; the
 * others are closed with the configuration that had them.
 */
public final class Authenticators implements AutoCloseable {
    private final Map<JwtConfig, JwtAuthenticator> byConfig = new HashMap<>();
    private final Authenticators previous;

    /** @param previous the verifiers before a reload, {@code null} at start */
    public Authenticators(Authenticators previous) {
        this.previous = previous;
    }

    /** The verifier of {@code config}: this configuration's, the previous one's, or a new one. */
    public synchronized JwtAuthenticator get(JwtConfig config) {
        JwtAuthenticator a = byConfig.get(config);
        if (a == null) {
            a = previous == null ? null : previous.give(config);
            if (a == null) {
                a = new JwtAuthenticator(config, Background.executor());
            }
            byConfig.put(config, a);
        }
        return a;
    }

    /** Hands {@code config}'s verifier to the next configuration: this one no longer closes it. */
    private synchronized JwtAuthenticator give(JwtConfig config) {
        return byConfig.remove(config);
    }

    @Override
    public synchronized void close() {
        byConfig.values().forEach(JwtAuthenticator::close);
        byConfig.clear();
    }
}
