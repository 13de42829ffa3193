package dev.rproxy.proxy;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The client connections of one event loop that have nothing to answer (resting between requests,
 * or not yet through their first), least recently busy first: nginx's reusable connections. At
 * the connection cap the oldest are closed to make room, in O(1) each; a connection enters at the
 * tail when its last response is written and leaves when a request arrives, two pointer updates
 * per request with no allocation. Intrusive: the links live in {@link RelayHandler}. Confined to
 * its loop.
 */
public final class IdleClients {
    private RelayHandler head;
    private RelayHandler tail;
    private int size;

    /** One list per loop of {@code group}, made up front; read-only after, so shared freely. */
    public static Map<EventExecutor, IdleClients> forLoops(EventLoopGroup group) {
        Map<EventExecutor, IdleClients> lists = new IdentityHashMap<>();
        for (EventExecutor loop : group) {
            lists.put(loop, new IdleClients());
        }
        return Map.copyOf(lists);
    }

    /** Appends {@code r} as the most recently busy; nothing when it is already in. */
    void add(RelayHandler r) {
        if (r.idleList != null) {
            return;
        }
        r.idleList = this;
        r.idlePrev = tail;
        r.idleNext = null;
        if (tail != null) {
            tail.idleNext = r;
        } else {
            head = r;
        }
        tail = r;
        size++;
    }

    /** Takes {@code r} out; nothing when it is not in. */
    void remove(RelayHandler r) {
        if (r.idleList != this) {
            return;
        }
        if (r.idlePrev != null) {
            r.idlePrev.idleNext = r.idleNext;
        } else {
            head = r.idleNext;
        }
        if (r.idleNext != null) {
            r.idleNext.idlePrev = r.idlePrev;
        } else {
            tail = r.idlePrev;
        }
        r.idleList = null;
        r.idlePrev = null;
        r.idleNext = null;
        size--;
    }

    /** Closes up to {@code n} of the connections idle longest; returns how many. */
    public int closeOldest(int n) {
        int closed = 0;
        while (closed < n && head != null) {
            RelayHandler r = head;
            remove(r);
            r.closeIdle();
            closed++;
        }
        return closed;
    }

    public int size() {
        return size;
    }
}
