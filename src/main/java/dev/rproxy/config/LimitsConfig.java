package dev.rproxy.config;

/**
 * Limits on what a client may send, and on what the proxy holds for clients.
 *
 * @param maxRequestLineBytes     longest request line, >= 256 (over it: 414)
 * @param maxHeaderBytes          largest header section, >= 256 (over it: 431)
 * @param maxHeaderCount          most header fields, >= 1 (over it: 431)
 * @param maxBodyBytes            largest request body, >= 0; 0 means unlimited (over it: 413)
 * @param maxConnections          concurrent client connections, >= 0; 0 means unlimited
 * @param minBodyRate             bytes per second a request body must average, >= 0; 0 means no
 *                                minimum (it may fall behind by {@code timeouts.idleMs}; too slow: 408)
 * @param requestBufferBytes      a request body is read up to this many bytes (or to its end) before a
 *                                backend connection is taken, 0..16 MiB; 0 streams it from the first byte
 * @param maxBufferBytes          the process-wide budget of bytes in buffers, >= 0; 0 means the direct
 *                                memory limit of the JVM
 * @param maxConnectionsPerClient concurrent connections from one client address, >= 0; 0 means unlimited
 */
public record LimitsConfig(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, long maxBodyBytes,
                           int maxConnections, long minBodyRate, int requestBufferBytes, long maxBufferBytes,
                           int maxConnectionsPerClient) {

    /** Apache httpd's mod_reqtimeout default for request bodies. */
    public static final long DEFAULT_MIN_BODY_RATE = 500;
    public static final int DEFAULT_REQUEST_BUFFER_BYTES = 64 * 1024;

    public static final LimitsConfig DEFAULT = new LimitsConfig(8192, 16384, 100, 0, 0, DEFAULT_MIN_BODY_RATE,
            DEFAULT_REQUEST_BUFFER_BYTES, 0, 0);

    public LimitsConfig {
        Checks.atLeast("maxRequestLineBytes", maxRequestLineBytes, 256);
        Checks.atLeast("maxHeaderBytes", maxHeaderBytes, 256);
        Checks.atLeast("maxHeaderCount", maxHeaderCount, 1);
        Checks.atLeast("maxBodyBytes", maxBodyBytes, 0);
        Checks.atLeast("maxConnections", maxConnections, 0);
        Checks.atLeast("minBodyRate", minBodyRate, 0);
        Checks.between("requestBufferBytes", requestBufferBytes, 0, 16 * 1024 * 1024);
        Checks.atLeast("maxBufferBytes", maxBufferBytes, 0);
        Checks.atLeast("maxConnectionsPerClient", maxConnectionsPerClient, 0);
    }
}
