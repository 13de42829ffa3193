package dev.rproxy.http;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The client connections of one event loop that have nothing to answer (an HTTP/1 connection
 * resting between requests or not yet through its first, an HTTP/2 connection with no open
 * stream), least recently busy first: nginx's reusable connections. At the connection cap the
 * oldest are closed to make room, in O(1) each; a connection enters at the tail when its last
 * response is written (its last stream closes) and leaves when a request (a stream) arrives, two
 * pointer updates with no allocation. Intrusive: the links live in each connection's {@link
 * Entry}. Confined to its loop.
 */
public final class IdleClients {
    private Entry head;
    private Entry tail;
    private int size;

    /** A connection's place in the list: it holds one for its life and says how it is closed. */
    public abstract static class Entry {
        private IdleClients list;
        private Entry prev;
        private Entry next;

        /** Closes the connection, which has nothing to answer, to make room for another. */
        protected abstract void closeIdle();

        /** Takes the connection out of its list, if it is in one. */
        public final void leave() {
            if (list != null) {
                list.remove(this);
            }
        }
    }

    /** One list per loop of {@code group}, made up front; read-only after, so shared freely. */
    public static Map<EventExecutor, IdleClients> forLoops(EventLoopGroup group) {
        Map<EventExecutor, IdleClients> lists = new IdentityHashMap<>();
        for (EventExecutor loop : group) {
            lists.put(loop, new IdleClients());
        }
        return Map.copyOf(lists);
    }

    /** Appends {@code e} as the most recently busy; nothing when it is already in. */
    public void add(Entry e) {
        if (e.list != null) {
            return;
        }
        e.list = this;
        e.prev = tail;
        e.next = null;
        if (tail != null) {
            tail.next = e;
        } else {
            head = e;
        }
        tail = e;
        size++;
    }

    private void remove(Entry e) {
        if (e.prev != null) {
            e.prev.next = e.next;
        } else {
            head = e.next;
        }
        if (e.next != null) {
            e.next.prev = e.prev;
        } else {
            tail = e.prev;
        }
        e.list = null;
        e.prev = null;
        e.next = null;
        size--;
    }

    /** Closes up to {@code n} of the connections idle longest; returns how many. */
    public int closeOldest(int n) {
        int closed = 0;
        while (closed < n && head != null) {
            Entry e = head;
            remove(e);
            e.closeIdle();
            closed++;
        }
        return closed;
    }

    public int size() {
        return size;
    }
}
