package dev.rproxy.config;

/**
 * Limits on what a client may send.
 *
 * @param maxRequestLineBytes longest request line, >= 256 (over it: 414)
 * @param maxHeaderBytes      largest header section, >= 256 (over it: 431)
 * @param maxHeaderCount      most header fields, >= 1 (over it: 431)
 * @param maxBodyBytes        largest request body, >= 0; 0 means unlimited (over it: 413)
 * @param maxConnections      concurrent client connections, >= 0; 0 means unlimited
 * @param minBodyRate         bytes per second a request body must average, >= 0; 0 means no minimum
 *                            (it may fall behind by {@code timeouts.idleMs}; too slow: 408)
 */
public record LimitsConfig(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, long maxBodyBytes,
                           int maxConnections, long minBodyRate) {

    public static final LimitsConfig DEFAULT = new LimitsConfig(8192, 16384, 100, 0, 0, 0);

    public LimitsConfig {
        Checks.atLeast("maxRequestLineBytes", maxRequestLineBytes, 256);
        Checks.atLeast("maxHeaderBytes", maxHeaderBytes, 256);
        Checks.atLeast("maxHeaderCount", maxHeaderCount, 1);
        Checks.atLeast("maxBodyBytes", maxBodyBytes, 0);
        Checks.atLeast("maxConnections", maxConnections, 0);
        Checks.atLeast("minBodyRate", minBodyRate, 0);
    }
}
