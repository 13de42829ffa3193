package dev.rproxy.memory;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Netty's adaptive read sizes (64 B to 64 KiB, following what reads bring), capped at 8 KiB while
 * memory is under pressure ({@link BufferBudget#constrained()}, read live at each allocation): a decoded body part is a slice of its
 * read buffer and keeps all of it alive, so a connection whose peer is slow pins at most a small
 * buffer then. The cap is read per allocation; a channel's handle is made once and never changes.
 */
public final class BudgetedRecvAllocator implements MaxMessagesRecvByteBufAllocator {
    /**
     * Reads per readiness event, as Netty's socket channels default to: set here because a
     * channel option gives an allocator no such default (Netty applies its per-channel one only
     * to its own allocators), and one read per event would end every read burst after 64 KiB.
     */
    static final int MAX_MESSAGES_PER_READ = 16;

    private final BufferBudget budget;
    private final AdaptiveRecvByteBufAllocator sizes = new AdaptiveRecvByteBufAllocator(64, 2048, 64 * 1024);

    public BudgetedRecvAllocator(BufferBudget budget) {
        this.budget = budget;
        sizes.maxMessagesPerRead(MAX_MESSAGES_PER_READ);
    }

    @Override
    public int maxMessagesPerRead() {
        return sizes.maxMessagesPerRead();
    }

    @Override
    public MaxMessagesRecvByteBufAllocator maxMessagesPerRead(int maxMessagesPerRead) {
        sizes.maxMessagesPerRead(maxMessagesPerRead);
        return this;
    }

    @Override
    public Handle newHandle() {
        return new CappedHandle((ExtendedHandle) sizes.newHandle(), budget);
    }

    private static final class CappedHandle implements ExtendedHandle {
        private final ExtendedHandle delegate;
        private final BufferBudget budget;

        CappedHandle(ExtendedHandle delegate, BufferBudget budget) {
            this.delegate = delegate;
            this.budget = budget;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return alloc.ioBuffer(guess());
        }

        @Override
        public int guess() {
            int guess = delegate.guess();
            return budget.constrained() ? Math.min(guess, BufferBudget.CONSTRAINED_READ) : guess;
        }

        @Override
        public void reset(ChannelConfig config) {
            delegate.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            delegate.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            delegate.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return delegate.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            delegate.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return delegate.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return delegate.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return delegate.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            delegate.readComplete();
        }
    }
}
