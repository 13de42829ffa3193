package dev.rproxy.pool;

import io.netty.bootstrap.Bootstrap;
import io.netty.handler.ssl.SslHandler;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;
import java.util.ArrayDeque;

/**
 * Keep-alive HTTP/1 connections to one backend, owned by one event loop: a lease is a whole
 * connection, for one exchange at a time.
 *
 * <p>Every method runs on {@link #loop}, the loop of the client channels it serves, so the pool
 * needs no lock, no executor hop and no future per acquire: an idle connection is handed over
 * synchronously, the common case with keep-alive. At most {@code max} connections are open
 * (connecting, in use or idle); beyond that up to {@code maxPending} acquires wait, each at most
 * {@code acquireTimeoutMs}; and none is opened while the process has no descriptor left for it
 * ({@link ConnectionLedger}). Idle connections are reused most-recently-used first (warm ones; the
 * coldest age out through the idle timeout in the pipeline).
 */
public final class Http1Pool implements UpstreamPool {
    private final EventLoop loop;
    private final ConnectionLedger ledger;
    private final Bootstrap bootstrap;
    private final int max;
    private final int maxPending;
    private final ArrayDeque<Channel> idle = new ArrayDeque<>();
    private final Waiters waiters;
    private final ChannelFutureListener onClose = f -> connectionClosed(f.channel());
    private int open;
    private boolean closed;

    Http1Pool(EventLoop loop, Bootstrap bootstrap, int max, int maxPending, long acquireTimeoutMs,
            ConnectionLedger ledger) {
        this.loop = loop;
        this.ledger = ledger;
        this.bootstrap = bootstrap;
        this.max = max;
        this.maxPending = maxPending;
        this.waiters = new Waiters(loop, acquireTimeoutMs, "connection");
    }

    /**
     * Hands {@code acquirer} a connection: an idle one at once, a new one once connected, or the
     * next one released when all {@code max} are busy. Fails with {@link PoolExhaustedException}
     * when too many wait already or the wait times out, or with the connect failure.
     */
    @Override
    public void acquire(Acquirer acquirer) {
        assert loop.inEventLoop();
        if (closed) {
            acquirer.acquireFailed(new PoolExhaustedException("pool closed"));
            return;
        }
        Channel ch;
        while ((ch = idle.pollFirst()) != null) {
            if (ch.isActive()) {
                acquirer.acquired(ch);
                return;
            }
            ch.close(); // counted down by its close listener
        }
        acquireNew(acquirer);
    }

    /**
     * As {@link #acquire}, but never hands over an idle connection: for the retry after a reused
     * connection died before answering, when the other idle ones may have been closed by the
     * backend the same way. A new connection takes a slot of {@code max} like any other; with none
     * free the acquire waits for a connection another exchange releases, which has just been
     * proven alive.
     */
    @Override
    public void acquireFresh(Acquirer acquirer) {
        assert loop.inEventLoop();
        if (closed) {
            acquirer.acquireFailed(new PoolExhaustedException("pool closed"));
            return;
        }
        acquireNew(acquirer);
    }

    private void acquireNew(Acquirer acquirer) {
        // Out of descriptors, a connection of this pool that is released is the way to a backend:
        // the acquire waits for one, as it does when the pool is full.
        boolean mayOpen = open < max && (open == 0 || ledger.upstreamRoom());
        if (mayOpen) {
            connect(acquirer);
        } else if (waiters.size() < maxPending) {
            waiters.add(acquirer);
        } else {
            acquirer.acquireFailed(new PoolExhaustedException(open + " connections busy and " + maxPending + " waiting"));
        }
    }

    /**
     * Takes back a connection after an exchange. A reusable one goes to the longest waiter or the
     * idle list; anything else is closed.
     */
    @Override
    public void release(Channel ch, boolean reusable) {
        assert loop.inEventLoop();
        if (!reusable || closed || !ch.isActive()) {
            ch.close();
            return;
        }
        Acquirer waiter = waiters.poll();
        if (waiter != null) {
            waiter.acquired(ch);
        } else {
            ch.config().setAutoRead(true); // an idle connection notices a close from the backend
            idle.addFirst(ch);
        }
    }

    /**
     * Takes a slot and opens a connection in it from a task on {@link #loop} (see {@link
     * Connects#later}).
     */
    private void connect(Acquirer acquirer) {
        if (!ledger.upstreamOpening()) {
            // Not the backend's fault: answered 503, never counted against its health.
            acquirer.acquireFailed(new PoolExhaustedException("no file descriptor left for a backend connection"));
            return;
        }
        open++;
        Connects.later(loop, () -> openConnection(acquirer));
    }

    private void openConnection(Acquirer acquirer) {
        if (closed) {
            slotFreed();
            acquirer.acquireFailed(new PoolExhaustedException("pool closed"));
            return;
        }
        ChannelFuture connect = Connects.start(bootstrap, cause -> {
            slotFreed(); // no channel, so no close will give the slot back
            acquirer.acquireFailed(cause);
        });
        if (connect == null) {
            return;
        }
        connect.channel().closeFuture().addListener(onClose);
        if (connect.isDone()) {
            connected(connect, acquirer);
        } else {
            connect.addListener((ChannelFuture f) -> connected(f, acquirer));
        }
    }

    private void connected(ChannelFuture f, Acquirer acquirer) {
        if (!f.isSuccess()) {
            f.channel().close();
            acquirer.acquireFailed(f.cause());
            return;
        }
        SslHandler tls = f.channel().pipeline().get(SslHandler.class);
        if (tls == null) {
            acquirer.acquired(f.channel());
            return;
        }
        // Handed out once the handshake is done, so that a failed one is a failed connect (retried
        // elsewhere, counted against the backend's health), never a request half sent.
        tls.handshakeFuture().addListener(h -> {
            if (h.isSuccess()) {
                acquirer.acquired(f.channel());
            } else {
                f.channel().close();
                acquirer.acquireFailed(new TlsHandshakeException(h.cause()));
            }
        });
    }

    private void slotFreed() {
        open--;
        ledger.upstreamClosed();
    }

    private void connectionClosed(Channel ch) {
        slotFreed();
        idle.remove(ch);
        // A slot is free: the longest waiter gets a new connection.
        Acquirer waiter;
        if (!closed && open < max && (waiter = waiters.poll()) != null) {
            connect(waiter);
        }
    }

    /** Closes idle connections and refuses new acquires; connections in use close when released. */
    @Override
    public int openConnections() {
        return open;
    }

    @Override
    public int leases() {
        return Math.max(0, open - idle.size());
    }

    @Override
    public int pendingAcquires() {
        return waiters.size();
    }

    @Override
    public void close() {
        assert loop.inEventLoop();
        closed = true;
        waiters.failAll(new PoolExhaustedException("pool closed"));
        Channel ch;
        while ((ch = idle.pollFirst()) != null) {
            ch.close();
        }
    }
}
