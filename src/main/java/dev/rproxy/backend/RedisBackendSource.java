package dev.rproxy.backend;

import dev.rproxy.config.DiscoveryConfig;
import dev.rproxy.fleet.Fleet;
import io.netty.channel.EventLoopGroup;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backends from a registry in Redis: a sorted set whose members are {@code host:port} (IPv6 in
 * brackets), each scored by the epoch millisecond its registration expires. A backend adds itself
 * again ahead of that time while it runs ({@code ZADD key <now+3000> host:port} every second) and
 * removes itself when it stops cleanly ({@code ZREM}); one that stops otherwise leaves when its
 * registration expires.
 *
 * <p>Every {@code refreshMs} the source reads the members not yet expired, on Redis' clock, over
 * the fleet's connection ({@link Fleet#registered}, which also removes the expired ones) and hands
 * the whole set to the listener, an empty one included: the registry is the truth, and the
 * heartbeat's TTL is its grace already. A failed read (Redis unreachable, slow, or an error) is no
 * answer: the set stays as it was, however long that lasts. A member that is not {@code host:port}
 * is left out, with a warning the first time. Each change of state is logged once.
 *
 * <p>Threading: the reads are timed on one event loop, {@link #loop}, and their answers handed back
 * to it, so nothing waits: the read is asynchronous and no request ever waits for it. The answer is
 * handed over under this object's monitor, which {@link #close} takes too.
 */
public final class RedisBackendSource extends PolledBackendSource {
    private static final Logger log = LoggerFactory.getLogger(RedisBackendSource.class);
    /** Malformed members warned about, at most this many remembered. */
    private static final int MAX_WARNED = 1000;

    private final String upstream;
    private final String key;
    private final long refreshMs;
    private final Fleet fleet;
    // Guarded by this.
    // Confined to loop.
    private State state = State.STARTING;
    private final Set<String> warned = new HashSet<>();
    /** Written on {@link #loop} at the end of each read, read by the admin API. */

    private enum State { STARTING, ANSWERING, FAILING, EMPTY }

    /**
     * @param upstream the upstream's name, for logs
     * @param fleet    the connection to Redis the registry is read through
     * @param loops    the reads are timed on one of them
     */
    public RedisBackendSource(String upstream, DiscoveryConfig config, Fleet fleet, EventLoopGroup loops) {
        super(loops.next());
        this.upstream = upstream;
        this.key = config.redis();
        this.refreshMs = config.refreshMs();
        this.fleet = fleet;
    }

    @Override
    protected void begin() {
        read();
    }

    private void read() {
        assert loop.inEventLoop();
        if (isClosed()) {
            return;
        }
        fleet.registered(key).whenCompleteAsync((members, failure) -> {
            if (failure != null) {
                failed(describe(failure));
            } else {
                answered(members);
            }
            roundEnded(this::read, refreshMs);
        }, loop);
    }

    private void failed(String why) {
        if (state != State.FAILING) {
            log.warn("upstream {}: registry {} in Redis at {} cannot be read ({}); the backends found before stay",
                    upstream, key, fleet.address(), why);
            state = State.FAILING;
        }
        status(new Status("failing", why));
    }

    private void answered(List<String> members) {
        List<Endpoint> endpoints = endpoints(members);
        State now = endpoints.isEmpty() ? State.EMPTY : State.ANSWERING;
        if (state != now) {
            if (now == State.EMPTY) {
                log.warn("upstream {}: registry {} has no live members: no backends", upstream, key);
            } else {
                log.info("upstream {}: registry {} answers: {}", upstream, key, count(endpoints));
            }
            state = now;
        }
        status(now == State.EMPTY ? new Status("empty", "no live members") : new Status("answering", count(endpoints)));
        deliver(endpoints);
    }

    private static String count(List<Endpoint> endpoints) {
        return endpoints.size() == 1 ? "1 endpoint" : endpoints.size() + " endpoints";
    }

    /** The well-formed members once each, in the registry's order. */
    private List<Endpoint> endpoints(List<String> members) {
        Map<String, Endpoint> byAuthority = new LinkedHashMap<>();
        for (String member : members) {
            Endpoint e = parse(member);
            if (e == null) {
                if (warned.size() < MAX_WARNED && warned.add(member)) {
                    log.warn("upstream {}: registry {}: member {} left out (expected host:port)", upstream, key, member);
                }
                continue;
            }
            byAuthority.putIfAbsent(e.authority(), e);
        }
        return new ArrayList<>(byAuthority.values());
    }

    /** {@code host:port} or {@code [ipv6]:port} as an endpoint of weight 1; {@code null} when it is neither. */
    static Endpoint parse(String member) {
        int colon = member.lastIndexOf(':');
        if (colon <= 0 || colon == member.length() - 1) {
            return null;
        }
        String host = member.substring(0, colon);
        String digits = member.substring(colon + 1);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
            if (host.indexOf(':') < 0) {
                return null;
            }
        } else if (host.indexOf(':') >= 0 || host.indexOf('[') >= 0 || host.indexOf(']') >= 0) {
            return null;
        }
        if (host.isEmpty() || digits.length() > 5 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')
                || !host.chars().allMatch(c -> c == '-' || c == '.' || c == '_' || c == ':' || Character.isLetterOrDigit(c))) {
            return null;
        }
        int port = Integer.parseInt(digits);
        return port >= 1 && port <= 65535 ? new Endpoint(host, port, 1) : null;
    }

    private static String describe(Throwable e) {
        Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof java.util.concurrent.TimeoutException) {
            return "no answer in time";
        }
        return cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName();
    }
}
