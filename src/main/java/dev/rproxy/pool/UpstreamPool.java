package dev.rproxy.pool;

import io.netty.channel.Channel;

/**
 * Leases to one backend on one event loop: what an exchange sends its request on and reads its
 * response from. A lease is a channel carrying HTTP/1 messages either way: a whole keep-alive
 * connection ({@link Http1Pool}) or one stream of a multiplexed HTTP/2 connection ({@link
 * Http2Pool}); the exchange does not need to know which.
 *
 * <p>Every method runs on the pool's loop, the loop of the client channels it serves.
 */
public interface UpstreamPool {
    /** Receives the outcome of one {@link #acquire}; called on the pool's loop. */
    interface Acquirer {
        void acquired(Channel channel);

        void acquireFailed(Throwable cause);
    }

    /**
     * Hands {@code acquirer} a lease: at once when one is free, else once a connection is ready or
     * a lease is given back; fails with {@link PoolExhaustedException} when too many wait already
     * or the wait times out, or with the connect failure.
     */
    void acquire(Acquirer acquirer);

    /**
     * As {@link #acquire}, for the retry of a request whose lease failed before any answer: never on
     * a connection that has been sitting idle, which may have died the same way.
     */
    void acquireFresh(Acquirer acquirer);

    /**
     * Takes back a lease after an exchange; {@code reusable}: the exchange ended cleanly and the
     * connection can carry another. Anything else is closed (an HTTP/2 stream is reset).
     */
    void release(Channel lease, boolean reusable);

    /** Refuses new acquires and fails the waiting ones; leases in use end when released. */
    void close();

    // For metrics: read from another thread without a lock, so each is a moment's approximation.

    /** Connections open or being opened. */
    int openConnections();

    /** Leases in use: HTTP/1 connections carrying an exchange, HTTP/2 streams. */
    int leases();

    /** Acquires waiting for a lease. */
    int pendingAcquires();
}
