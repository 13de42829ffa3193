package dev.rproxy.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How many bytes a relay through the proxy may have in flight without the proxy buffering: what
 * the kernel's socket buffers on the way can hold, for tests that check a proxy that does not read
 * ahead of a slow reader.
 */
public final class SocketBuffers {
    private SocketBuffers() {}

    /**
     * Sent but unread bytes can sit in: the sender's socket send buffer, the proxy's receive buffer
     * on that side, the proxy itself (its write high-water mark plus one read burst), the proxy's
     * send buffer on the other side, and the reader's receive buffer ({@code readerReceiveBuffer},
     * which Linux doubles). Linux autotunes the other socket buffers up to the maxima in
     * net.ipv4.tcp_wmem and tcp_rmem (4 MiB and 6 MiB by default, 32 MiB receive on some hosts),
     * so the bound is two send buffers and one receive buffer at those maxima, the reader's
     * buffer, and 4 MiB for the proxy and the sender's own buffering.
     */
    public static long maxInFlight(long readerReceiveBuffer) {
        return 2 * sysctlMax("/proc/sys/net/ipv4/tcp_wmem", 4 << 20) + sysctlMax("/proc/sys/net/ipv4/tcp_rmem", 6 << 20)
                + readerReceiveBuffer * 2 + (4 << 20);
    }

    /** The last number in a sysctl file such as tcp_rmem ("min default max"), or the fallback. */
    private static long sysctlMax(String file, long fallback) {
        try {
            // readAllLines, not readString: some kernels report /proc files as 0 bytes long, and
            // readString trusts the size.
            String[] fields = Files.readAllLines(Path.of(file)).get(0).trim().split("\\s+");
            return Long.parseLong(fields[fields.length - 1]);
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }
}
