package dev.rproxy.backend;

import dev.rproxy.config.DiscoveryConfig;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.SequentialDnsServerAddressStreamProvider;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backends from DNS, asked again and again with Netty's asynchronous resolver on one event loop
 * (never the JDK's lookup, which blocks): the A and AAAA records of {@code name:port}, or the SRV
 * records of an SRV name and then the addresses of their targets.
 *
 * <p>When: the next resolution is due when the answer's shortest TTL runs out (its records hold
 * until then; a caching resolver on the way would answer the same), but never sooner than {@code
 * refreshMs} after the last one ended (a TTL of 0, as Consul gives, must not become a query loop)
 * and never later than {@link DiscoveryConfig#MAX_TTL_WAIT_MS} (a day-long TTL must not freeze the
 * set), or {@code refreshMs} when that is longer. After a failure or an empty answer: {@code
 * refreshMs}.
 *
 * <p>What counts: a resolution counts only when every question in it was answered. An answer
 * with records is the new set. A timeout, an unreachable server, or a server that says it failed
 * (SERVFAIL, REFUSED) is a failure: the set stays as it was, however long that lasts. An answer
 * that the name has no such records (NXDOMAIN, or none of that type) empties the set only after
 * {@value #EMPTY_ANSWERS_TO_CLEAR} in a row, so a name briefly missing while its zone is
 * redeployed does not take every backend away at once. Each change of these states is logged once.
 *
 * <p>SRV (RFC 2782): the records of the lowest priority are the backends (the others are
 * fallbacks a proxy that balances has no use for); a record's weight is the backend's (see {@link
 * DnsRecords.Srv}); a target of {@code "."} means no service there and is left out, and so is a
 * target without addresses.
 *
 * <p>Threading: as {@link PolledBackendSource} says; each resolution runs on its loop.
 */
public final class DnsBackendSource extends PolledBackendSource {
    private static final Logger log = LoggerFactory.getLogger(DnsBackendSource.class);

    /** Empty answers in a row that empty the set. */
    static final int EMPTY_ANSWERS_TO_CLEAR = 3;

    private final String upstream;
    private final DiscoveryConfig config;
    private final Class<? extends DatagramChannel> datagramClass;
    // Confined to loop.
    private DnsNameResolver resolver;
    /** Server failures (SERVFAIL, REFUSED...) seen by the resolution in progress. */
    private final DnsRecords.ServerFailures serverFailures = new DnsRecords.ServerFailures();
    private State state = State.STARTING;
    private int emptyInARow;

    private enum State { STARTING, ANSWERING, FAILING, EMPTY }

    /**
     * @param upstream    the upstream's name, for logs
     * @param loops       the resolver runs on one of them
     * @param socketClass the class of the TCP channels on {@code loops}, to pick the UDP one that fits
     */
    public DnsBackendSource(String upstream, DiscoveryConfig config, EventLoopGroup loops,
                            Class<? extends Channel> socketClass) {
        super(loops.next());
        this.upstream = upstream;
        this.config = config;
        this.datagramClass = datagramClassFor(socketClass);
    }

    /** The UDP channel of the transport {@code socketClass} belongs to (epoll, io_uring, NIO). */
    static Class<? extends DatagramChannel> datagramClassFor(Class<? extends Channel> socketClass) {
        if (socketClass != null && EpollSocketChannel.class.isAssignableFrom(socketClass)) {
            return EpollDatagramChannel.class;
        }
        if (socketClass != null && IoUringSocketChannel.class.isAssignableFrom(socketClass)) {
            return IoUringDatagramChannel.class;
        }
        return NioDatagramChannel.class;
    }

    @Override
    protected void begin() {
        DnsNameResolverBuilder builder = new DnsNameResolverBuilder(loop)
                .datagramChannelType(datagramClass)
                .dnsQueryLifecycleObserverFactory(serverFailures);
        List<InetSocketAddress> servers = config.nameserverAddresses();
        if (!servers.isEmpty()) {
            builder.nameServerProvider(new SequentialDnsServerAddressStreamProvider(servers));
        }
        try {
            resolver = builder.build();
        } catch (RuntimeException e) {
            log.error("upstream {}: DNS discovery of {} cannot start: {}", upstream, config.dns(), e.toString());
            gaveUp();
            return;
        }
        resolve();
    }

    @Override
    protected void closedOnLoop() {
        if (resolver != null) {
            resolver.close();
        }
    }

    // ---------------------------------------------------------------- one resolution, on loop

    private void resolve() {
        assert loop.inEventLoop();
        if (isClosed()) {
            return;
        }
        serverFailures.reset();
        Round round = new Round();
        if (config.srv()) {
            ask(config.name(), DnsRecordType.SRV, records -> srvAnswered(round, records), round);
        } else {
            addresses(round, config.name(), List.of(new DnsRecords.Srv(0, 1, config.port(), config.name())));
        }
        round.questionDone(); // the round's own hold: it ends once its questions have all come back
    }

    /** Asks for {@code host}'s A (and AAAA) records; each address is an endpoint per port and weight of {@code at}. */
    private void addresses(Round round, String host, List<DnsRecords.Srv> at) {
        Consumer<List<DnsRecord>> each = records -> {
            for (DnsRecord r : records) {
                String ip = DnsRecords.address(r);
                if (ip != null) {
                    for (DnsRecords.Srv srv : at) {
                        round.endpoints.add(new Endpoint(ip, srv.port(), srv.weight()));
                    }
                }
            }
        };
        ask(host, DnsRecordType.A, each, round);
        if (!NetUtil.isIpV4StackPreferred()) {
            ask(host, DnsRecordType.AAAA, each, round);
        }
    }

    /** The SRV records of the lowest priority, each target then asked for its addresses. */
    private void srvAnswered(Round round, List<DnsRecord> records) {
        Map<String, List<DnsRecords.Srv>> byTarget = new LinkedHashMap<>();
        for (DnsRecords.Srv srv : DnsRecords.lowestPriority(records)) {
            byTarget.computeIfAbsent(srv.target(), k -> new ArrayList<>()).add(srv);
        }
        for (Map.Entry<String, List<DnsRecords.Srv>> t : byTarget.entrySet()) {
            if (NetUtil.isValidIpV4Address(t.getKey()) || NetUtil.isValidIpV6Address(t.getKey())) {
                for (DnsRecords.Srv srv : t.getValue()) {
                    round.endpoints.add(new Endpoint(t.getKey(), srv.port(), srv.weight()));
                }
            } else {
                // A target that has no addresses leaves nothing: it is not a failure of the round.
                round.targets = true;
                addresses(round, t.getKey(), t.getValue());
            }
        }
    }

    /**
     * Asks one question; {@code answered} gets its records (released after it returns). The
     * outcome counts in {@code round}: records, none (NXDOMAIN or no data), or a failure.
     */
    private void ask(String name, DnsRecordType type, Consumer<List<DnsRecord>> answered, Round round) {
        round.questions++;
        DnsQuestion question = new DefaultDnsQuestion(name, type);
        resolver.resolveAll(question).addListener((Future<List<DnsRecord>> f) -> {
            if (f.isSuccess()) {
                List<DnsRecord> records = f.getNow();
                try {
                    for (DnsRecord r : records) {
                        round.ttlSeconds = Math.min(round.ttlSeconds, r.timeToLive());
                    }
                    answered.accept(records);
                } catch (RuntimeException e) {
                    round.failure = "unreadable answer for " + name + " " + type.name() + ": " + e;
                } finally {
                    for (DnsRecord r : records) {
                        ReferenceCountUtil.release(r);
                    }
                }
            } else {
                Throwable cause = f.cause();
                boolean noSuchRecords = cause instanceof UnknownHostException
                        && DnsRecords.noSuchRecords(cause.getCause(), serverFailures);
                if (!noSuchRecords && round.failure == null) {
                    round.failure = type.name() + " " + name + ": " + (serverFailures.count > 0
                            ? "the server answered " + serverFailures.last : DnsRecords.describe(cause));
                }
            }
            round.questionDone();
        });
    }

    /** The questions of one resolution and what they brought; confined to {@link #loop}. */
    private final class Round {
        final List<Endpoint> endpoints = new ArrayList<>();
        /** Questions not answered yet, plus one held by {@link #resolve} while it asks. */
        int questions = 1;
        long ttlSeconds = Long.MAX_VALUE;
        /** Whether SRV targets were asked for their addresses (for the log line of an empty answer). */
        boolean targets;
        String failure;

        void questionDone() {
            if (--questions == 0) {
                ended(this);
            }
        }
    }

    private void ended(Round round) {
        long delayMs = config.refreshMs();
        List<Endpoint> deliver = null;
        if (round.failure != null) {
            if (state != State.FAILING) {
                log.warn("upstream {}: DNS discovery of {} failed ({}); the backends found before stay", upstream,
                        config.dns(), round.failure);
                state = State.FAILING;
            }
            status(new Status("failing", round.failure));
        } else if (!round.endpoints.isEmpty()) {
            if (state != State.ANSWERING) {
                log.info("upstream {}: DNS discovery of {} answers: {}", upstream, config.dns(), round.endpoints.size()
                        == 1 ? "1 endpoint" : round.endpoints.size() + " endpoints");
                state = State.ANSWERING;
            }
            emptyInARow = 0;
            deliver = distinct(round.endpoints);
            status(new Status("answering", deliver.size() == 1 ? "1 endpoint" : deliver.size() + " endpoints"));
            long ttlMs = round.ttlSeconds == Long.MAX_VALUE ? 0 : round.ttlSeconds * 1000;
            delayMs = Math.max(config.refreshMs(), Math.min(ttlMs, DiscoveryConfig.MAX_TTL_WAIT_MS));
        } else {
            emptyInARow++;
            if (emptyInARow == 1 && state != State.EMPTY) {
                log.warn("upstream {}: DNS discovery of {}: no {} records; the backends found before stay unless {}"
                        + " answers in a row say so", upstream, config.dns(), round.targets ? "addresses for the SRV targets"
                        : config.srv() ? "SRV" : "address", EMPTY_ANSWERS_TO_CLEAR);
            }
            if (emptyInARow >= EMPTY_ANSWERS_TO_CLEAR || state == State.STARTING) {
                if (state != State.EMPTY && state != State.STARTING) {
                    log.warn("upstream {}: DNS discovery of {}: no records {} times in a row: no backends", upstream,
                            config.dns(), emptyInARow);
                }
                state = State.EMPTY;
                deliver = List.of();
                status(new Status("empty", "no records, " + emptyInARow + " answers in a row"));
            } else {
                status(new Status("no_records", "no records, " + emptyInARow + " of " + EMPTY_ANSWERS_TO_CLEAR
                        + " answers in a row before the backends found before are dropped"));
            }
        }
        if (deliver != null) {
            if (isClosed()) {
                return;
            }
            deliver(deliver);
        }
        roundEnded(this::resolve, delayMs);
    }

    /** The endpoints once each, in the order found (one address may be in both an A and a CNAME'd answer). */
    private static List<Endpoint> distinct(List<Endpoint> endpoints) {
        Map<String, Endpoint> byAuthority = new LinkedHashMap<>();
        for (Endpoint e : endpoints) {
            byAuthority.putIfAbsent(e.authority(), e);
        }
        return List.copyOf(byAuthority.values());
    }
}
