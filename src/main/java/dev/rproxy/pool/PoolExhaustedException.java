package dev.rproxy.pool;

/** No upstream connection could be had: all are busy and the wait is full or timed out. */
public final class PoolExhaustedException extends Exception {
    private static final long serialVersionUID = 1L;

    public PoolExhaustedException(String message) {
        super(message, null, false, false); // an expected condition under load: no stack trace
    }
}
