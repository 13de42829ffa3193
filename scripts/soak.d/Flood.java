import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Idle-connection flood for scripts/soak: opens COUNT client connections at RATE per second, sends
 * one small GET on each, and then keeps every connection open and idle until SECONDS have passed
 * since the start, whatever the server does. Aimed past the server's descriptor limit, it shows
 * what happens there (connects that hang, connections closed unanswered, ...).
 *
 * <p>Usage: {@code java Flood.java HOST PORT COUNT RATE SECONDS PATH}.
 *
 * <p>Runs one thread and a selector; the process needs about COUNT descriptors. Every socket has
 * SO_LINGER 0: at the end the kernel resets them, so no TIME_WAIT is left behind to use up the
 * loopback's ephemeral ports for the runs that follow. Prints at the end:
 * {@code flood started=N connected=N connect_failed=N connecting=N answered=N unanswered=N
 * closed_by_peer=N max_open=N}, where {@code connected} counts completed TCP handshakes (the
 * server's kernel completes them even when the server accepts no more), {@code answered} the
 * connections that got a whole response head, and {@code closed_by_peer} those the server closed
 * or reset while the client kept them.
 */
public final class Flood {
    private static final int CONNECTING = 0;
    private static final int WAITING = 1;
    private static final int ANSWERED = 2;
    private static final int CLOSED = 3;

    private static final class Conn {
        final SocketChannel ch;
        int state = CONNECTING;
        int headMatch;

        Conn(SocketChannel ch) {
            this.ch = ch;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: java Flood.java HOST PORT COUNT RATE SECONDS PATH");
            System.exit(2);
        }
        InetSocketAddress target = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        int count = Integer.parseInt(args[2]);
        double rate = Double.parseDouble(args[3]);
        long start = System.nanoTime();
        long end = start + Long.parseLong(args[4]) * 1_000_000_000L;
        byte[] request = ("GET " + args[5] + " HTTP/1.1\r\nHost: " + args[0] + ":" + args[1] + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);

        Selector selector = Selector.open();
        List<Conn> all = new ArrayList<>(count);
        ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        int started = 0;
        int connected = 0;
        int connectFailed = 0;
        int answered = 0;
        int closedByPeer = 0;
        int open = 0;
        int maxOpen = 0;
        String lastError = "";
        while (System.nanoTime() < end) {
            long due = (long) ((System.nanoTime() - start) / 1e9 * rate) + 1;
            while (started < count && started < due) {
                started++;
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.SO_LINGER, 0);
                Conn c = new Conn(ch);
                all.add(c);
                open++;
                try {
                    if (ch.connect(target)) {
                        connected++;
                        ch.write(ByteBuffer.wrap(request));
                        c.state = WAITING;
                        ch.register(selector, SelectionKey.OP_READ, c);
                    } else {
                        ch.register(selector, SelectionKey.OP_CONNECT, c);
                    }
                } catch (IOException e) {
                    connectFailed++;
                    lastError = String.valueOf(e.getMessage());
                    c.state = CLOSED;
                    open--;
                    ch.close();
                }
            }
            maxOpen = Math.max(maxOpen, open);
            selector.select(20);
            for (SelectionKey key : selector.selectedKeys()) {
                Conn c = (Conn) key.attachment();
                try {
                    if (c.state == CONNECTING) {
                        c.ch.finishConnect();
                        connected++;
                        c.state = WAITING;
                        c.ch.write(ByteBuffer.wrap(request));
                        key.interestOps(SelectionKey.OP_READ);
                        continue;
                    }
                    buf.clear();
                    int n = c.ch.read(buf);
                    if (n < 0) {
                        throw new IOException("closed by peer");
                    }
                    // Counts a connection as answered once the end of a response head went by;
                    // body bytes are read and dropped.
                    for (int i = 0; i < n && c.state == WAITING; i++) {
                        byte b = buf.get(i);
                        c.headMatch = (b == '\r' && c.headMatch % 2 == 0) || (b == '\n' && c.headMatch % 2 == 1)
                                ? c.headMatch + 1 : (b == '\r' ? 1 : 0);
                        if (c.headMatch == 4) {
                            c.state = ANSWERED;
                            answered++;
                        }
                    }
                } catch (IOException e) {
                    if (c.state == CONNECTING) {
                        connectFailed++;
                        lastError = String.valueOf(e.getMessage());
                    } else {
                        closedByPeer++;
                    }
                    c.state = CLOSED;
                    open--;
                    key.cancel();
                    c.ch.close();
                }
            }
            selector.selectedKeys().clear();
        }
        int connecting = 0;
        int unanswered = 0;
        for (Conn c : all) {
            if (c.state == CONNECTING) {
                connecting++;
            } else if (c.state == WAITING) {
                unanswered++;
            }
            c.ch.close();
        }
        System.out.printf("flood started=%d connected=%d connect_failed=%d connecting=%d answered=%d unanswered=%d"
                        + " closed_by_peer=%d max_open=%d%s%n", started, connected, connectFailed, connecting, answered,
                unanswered, closedByPeer, maxOpen, lastError.isEmpty() ? "" : " last_error=\"" + lastError + "\"");
    }
}
