package dev.rproxy.support;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A plain blocking server on an ephemeral loopback port: one daemon thread accepts, one daemon
 * thread serves each connection. The base of the scripted backends, whose point is bytes on the
 * wire that no real HTTP server would send.
 */
public final class LoopbackServer implements AutoCloseable {
    private final ServerSocket server;
    private final Thread acceptor;
    private final Consumer<Socket> connectionHandler;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();

    /** Starts accepting; {@code connectionHandler} runs on a thread of its own per connection. */
    public LoopbackServer(String name, Consumer<Socket> connectionHandler) throws IOException {
        this.connectionHandler = connectionHandler;
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(this::acceptLoop, name + "-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Connections accepted so far. */
    public int accepted() {
        return accepted.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                sockets.add(s);
                accepted.incrementAndGet();
                Thread t = new Thread(() -> {
                    try {
                        connectionHandler.accept(s);
                    } finally {
                        sockets.remove(s);
                    }
                }, acceptor.getName() + "-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    /**
     * Refuses new connections from now on; open ones carry on. Returns once the acceptor thread has
     * left {@code accept}: until then the kernel keeps the listening socket, and a connection
     * attempt made right after {@code close} could still be accepted and served.
     */
    public void stopAccepting() throws IOException {
        server.close();
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : sockets) {
            s.close();
        }
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
