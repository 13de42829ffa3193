package dev.rproxy.server;

import dev.rproxy.backend.BackendTls;
import dev.rproxy.config.ListenConfig;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * The proxied listeners that are open, each with its configuration and TLS, in the order of
 * {@code listen}; and how a reload turns them into the next configuration's: {@link #plan} loads
 * what the new ones need (certificates, which may fail, changing nothing), {@link #apply} closes
 * those that are gone or changed (their connections go on) and binds the new ones.
 *
 * <p>Thread-safety: changed by the thread that starts or reloads the proxy (under its lock), read
 * from any thread (ports, certificate checks): the list is copy-on-write.
 */
final class Listeners {
    private record Open(ListenConfig config, TlsContexts tls, Channel channel) {}

    /** What a reload does with the listeners: for each next one, the open one it keeps or the TLS to bind with. */
    record Plan(List<ListenConfig> next, List<Open> kept, List<TlsContexts> tls) {}

    private final ServerBootstrap bootstrap;
    private final Function<ListenConfig, ChannelHandler> accepting;
    private final BiFunction<ListenConfig, TlsContexts, ChannelHandler> connections;
    private final List<Open> open = new CopyOnWriteArrayList<>();

    /**
     * @param accepting   the handler of a listener's listening channel, which sees each accepted
     *                    connection first
     * @param connections the child handler of a listener's connections
     */
    Listeners(ServerBootstrap bootstrap, Function<ListenConfig, ChannelHandler> accepting,
            BiFunction<ListenConfig, TlsContexts, ChannelHandler> connections) {
        this.bootstrap = bootstrap;
        this.accepting = accepting;
        this.connections = connections;
    }

    /** Binds one listener after those open; returns how the start line describes it. */
    String bind(ListenConfig listener, TlsContexts contexts) throws InterruptedException {
        Channel channel = bootstrap.clone()
                .handler(accepting.apply(listener))
                .childHandler(connections.apply(listener, contexts))
                .bind(listener.host(), listener.port()).sync().channel();
        open.add(new Open(listener, contexts, channel));
        int port = ((InetSocketAddress) channel.localAddress()).getPort();
        String protocols = String.join(" ", listener.protocols());
        String proxyProtocol = listener.proxyProtocol() ? " (PROXY protocol)" : "";
        return listener.host() + ":" + port + proxyProtocol + (contexts == null
                ? (protocols.equals(ListenConfig.HTTP_1_1) ? "" : " (" + protocols + ")")
                : " (https: " + protocols + ", " + BackendTls.provider() + " TLS, certificates for "
                        + contexts.names() + ")");
    }

    /**
     * A listener whose configuration is unchanged is kept (its socket, its TLS); the others' TLS is
     * loaded here. Throws the {@link dev.rproxy.config.ConfigException} of a certificate that does
     * not load; nothing has changed then.
     */
    Plan plan(List<ListenConfig> next) {
        List<Open> available = new ArrayList<>(open);
        List<Open> kept = new ArrayList<>();
        List<TlsContexts> tls = new ArrayList<>();
        for (int i = 0; i < next.size(); i++) {
            ListenConfig l = next.get(i);
            Open same = null;
            for (Open o : available) {
                if (o.config().equals(l)) {
                    same = o;
                    break;
                }
            }
            if (same != null) {
                available.remove(same);
                kept.add(same);
                tls.add(same.tls());
            } else {
                kept.add(null);
                String at = next.size() == 1 ? "listen.tls" : "listen[" + i + "].tls";
                tls.add(l.tls() == null ? null : new TlsContexts(at, l.tls(), l.protocols()));
            }
        }
        return new Plan(next, kept, tls);
    }

    /** Closes the listeners {@code plan} does not keep, then binds its new ones; says what it did. */
    String apply(Plan plan) {
        List<Open> before = new ArrayList<>(open);
        int closed = 0;
        for (Open o : before) {
            if (!plan.kept().contains(o)) {
                o.channel().close().awaitUninterruptibly();
                closed++;
            }
        }
        open.clear();
        int bound = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < plan.next().size(); i++) {
            Open kept = plan.kept().get(i);
            if (kept != null) {
                open.add(kept);
                continue;
            }
            ListenConfig l = plan.next().get(i);
            try {
                bind(l, plan.tls().get(i));
                bound++;
            } catch (Exception e) {
                failures.add(l.host() + ":" + l.port() + ": " + e.getMessage());
            }
        }
        return bound + " bound, " + closed + " closed" + (failures.isEmpty() ? "" : "; could not bind " + String.join(", ", failures));
    }

    /** The bound address of listener {@code index}. */
    InetSocketAddress address(int index) {
        return (InetSocketAddress) open.get(index).channel().localAddress();
    }

    /** The TLS of the open listeners that have one, for the certificate checks. */
    List<TlsContexts> tls() {
        List<TlsContexts> all = new ArrayList<>();
        for (Open o : open) {
            if (o.tls() != null) {
                all.add(o.tls());
            }
        }
        return all;
    }

    /** Stops accepting on every listener (waits for each to close). */
    void closeAll() {
        for (Open o : open) {
            o.channel().close().awaitUninterruptibly();
        }
    }
}
