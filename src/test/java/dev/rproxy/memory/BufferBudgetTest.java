package dev.rproxy.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The budget's levels and the per-connection allowance it gives, with the allocator's count scripted. */
class BufferBudgetTest {
    private final AtomicLong used = new AtomicLong();
    private final BufferBudget budget = new BufferBudget(1000, used::get, 60_000);

    @Test
    void levelsRiseAndFallWithHysteresis() {
        List<BufferBudget.Level> changes = new ArrayList<>();
        budget.listener((level, changed) -> {
            if (changed) {
                changes.add(level);
            }
        });
        for (long u : new long[] {100, 500, 450, 860, 750, 690, 390}) {
            used.set(u);
            budget.sample();
        }
        assertThat(changes).containsExactly(BufferBudget.Level.HIGH, BufferBudget.Level.CRITICAL,
                BufferBudget.Level.HIGH, BufferBudget.Level.NORMAL);
    }

    @Test
    void aBurstBetweenTwoSamplesShrinksAnAllowanceThatTheNextWriteRestores() {
        EmbeddedChannel ch = new EmbeddedChannel();
        used.set(600); // over half, not yet sampled: the live reading decides
        budget.fitAllowance(ch);
        assertThat(ch.config().getWriteBufferHighWaterMark()).isEqualTo(16 * 1024);
        used.set(100);
        budget.sample(); // NORMAL before and after: no broadcast
        budget.fitAllowance(ch);
        assertThat(ch.config().getWriteBufferHighWaterMark()).isEqualTo(64 * 1024);
        assertThat(ch.config().getWriteBufferLowWaterMark()).isEqualTo(16 * 1024);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void stalledClientsAreGivenLessTimeAsPressureRises() {
        assertThat(budget.stallLimitNanos()).isEqualTo(60_000_000_000L);
        used.set(600);
        budget.sample();
        assertThat(budget.stallLimitNanos()).isEqualTo(5_000_000_000L);
        assertThat(budget.shedding()).isFalse();
        used.set(900);
        budget.sample();
        assertThat(budget.stallLimitNanos()).isEqualTo(1_000_000_000L);
        assertThat(budget.shedding()).isTrue();
    }
}
