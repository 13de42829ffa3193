package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.dns.DefaultDnsRecordDecoder;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.resolver.dns.DnsErrorCauseException;
import io.netty.resolver.dns.DnsQueryLifecycleObserver;
import io.netty.resolver.dns.DnsQueryLifecycleObserverFactory;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/** Reading what {@link DnsBackendSource} gets back: addresses, SRV records, and why a resolution gave up. */
final class DnsRecords {

    private DnsRecords() {
    }

    /**
     * One SRV record (RFC 2782) as a backend sees it: its weight within 1..{@value
     * BackendConfig#MAX_WEIGHT} (0 counts as 1), its target without the final dot. For a name asked
     * for its addresses, the port and weight every address gets.
     */
    record Srv(int priority, int weight, int port, String target) {}

    /** The address of an A or AAAA record, or {@code null}. */
    static String address(DnsRecord r) {
        if (!(r instanceof DnsRawRecord raw)) {
            return null;
        }
        ByteBuf content = raw.content();
        int length = content.readableBytes();
        if ((r.type() == DnsRecordType.A && length == 4) || (r.type() == DnsRecordType.AAAA && length == 16)) {
            byte[] bytes = new byte[length];
            content.getBytes(content.readerIndex(), bytes);
            return NetUtil.bytesToIpAddress(bytes);
        }
        return null;
    }

    /**
     * The SRV records of the lowest priority (the others are fallbacks a balancing proxy has no use
     * for), leaving out those whose target is {@code "."} (no service there) and unreadable ones.
     * The rdata is a view into the whole response, so a compressed target name reads as well.
     */
    static List<Srv> lowestPriority(List<DnsRecord> records) {
        List<Srv> lowest = new ArrayList<>();
        for (DnsRecord r : records) {
            if (r.type() != DnsRecordType.SRV || !(r instanceof DnsRawRecord raw) || raw.content().readableBytes() < 7) {
                continue;
            }
            ByteBuf rdata = raw.content();
            int at = rdata.readerIndex();
            int priority = rdata.getUnsignedShort(at);
            int weight = Math.max(1, Math.min(BackendConfig.MAX_WEIGHT, rdata.getUnsignedShort(at + 2)));
            int port = rdata.getUnsignedShort(at + 4);
            String target = DefaultDnsRecordDecoder.decodeName(rdata.duplicate().readerIndex(at + 6));
            if (target.endsWith(".")) {
                target = target.substring(0, target.length() - 1);
            }
            if (target.isEmpty() || port == 0) {
                continue;
            }
            if (!lowest.isEmpty() && priority < lowest.get(0).priority()) {
                lowest.clear();
            }
            if (lowest.isEmpty() || priority == lowest.get(0).priority()) {
                lowest.add(new Srv(priority, weight, port, target));
            }
        }
        return lowest;
    }

    /**
     * Whether the resolver gave up because the name has no such records (NXDOMAIN, or an answer
     * without them) rather than because a query failed: the cause is then none, or the response
     * code; a timeout or an I/O error is the cause otherwise. A server that answered SERVFAIL or
     * REFUSED leaves no cause: only {@code failures} saw it.
     */
    static boolean noSuchRecords(Throwable cause, ServerFailures failures) {
        for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof DnsErrorCauseException code) {
                return code.getCode() == DnsResponseCode.NXDOMAIN || code.getCode() == DnsResponseCode.NOERROR;
            }
        }
        return cause == null && failures.count == 0;
    }

    /** The innermost message of {@code cause}, for a log line. */
    static String describe(Throwable cause) {
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    }

    /**
     * Counts the answers in which a server said it failed (SERVFAIL, REFUSED...), which the
     * resolver does not tell apart from "no such name" in what it returns. One per resolver,
     * confined to its event loop, reset at each resolution.
     */
    static final class ServerFailures implements DnsQueryLifecycleObserverFactory, DnsQueryLifecycleObserver {
        int count;
        DnsResponseCode last;

        void reset() {
            count = 0;
            last = null;
        }

        @Override
        public DnsQueryLifecycleObserver newDnsQueryLifecycleObserver(DnsQuestion question) {
            return this;
        }

        @Override
        public DnsQueryLifecycleObserver queryNoAnswer(DnsResponseCode code) {
            count++;
            last = code;
            return this;
        }

        @Override
        public void queryWritten(InetSocketAddress server, ChannelFuture future) {
        }

        @Override
        public void queryCancelled(int queriesRemaining) {
        }

        @Override
        public DnsQueryLifecycleObserver queryRedirected(List<InetSocketAddress> servers) {
            return this;
        }

        @Override
        public DnsQueryLifecycleObserver queryCNAMEd(DnsQuestion question) {
            return this;
        }

        @Override
        public void queryFailed(Throwable cause) {
        }

        @Override
        public void querySucceed() {
        }
    }
}
