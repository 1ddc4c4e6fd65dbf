using AkiDb.Queue.Cli.Embedding;
using AkiDb.Queue.Cli.Ingestion;
using AkiDb.Queue.ModelText.Chunking;

namespace AkiDb.Queue.Tests;

/// <summary>Which chunks `embed` sends together: texts of about one length per message, every chunk once, in blocks the in-flight window can always let out.</summary>
public sealed class MessageGroupsTests
{
    private static List<ChunkItem> Items(int count, Func<int, int> size) =>
        Enumerable.Range(0, count).Select(i => new ChunkItem(i, $"d{i}", 0, 0, 1, $"text {i}", null, size(i))).ToList();

    [Fact]
    public void Within_a_block_messages_hold_texts_of_about_one_length_and_every_chunk_is_sent_once()
    {
        var random = new Random(11);
        var sizes = Enumerable.Range(0, 1000).Select(_ => random.Next(12, 21)).ToArray();
        var pending = Items(1000, i => sizes[i]);

        var messages = MessageGroups.Of(pending, 16, 8192).ToList();

        Assert.Equal(pending.Select(p => p.Seq).Order(), messages.SelectMany(m => m).Select(c => c.Seq).Order());
        Assert.All(messages.SkipLast(1), m => Assert.Equal(16, m.Length));
        // In input order, 16 texts of 12-20 tokens nearly always span the whole range; grouped, most messages hold one length.
        var spans = messages.Select(m => m.Max(c => c.Size) - m.Min(c => c.Size)).ToList();
        Assert.True(spans.Count(s => s == 0) >= messages.Count * 3 / 4, $"spans: {string.Join(' ', spans)}");
        var inputOrderSpans = pending.Chunk(16).Select(m => m.Max(c => c.Size) - m.Min(c => c.Size)).ToList();
        Assert.True(inputOrderSpans.Average() > 4 * spans.Average());
    }

    [Fact]
    public void A_block_never_holds_more_chunks_than_may_be_in_flight_so_the_run_cannot_wait_on_itself()
    {
        // Sizes falling through the input: ordering the whole input by size would send its last chunk first.
        var pending = Items(200, i => 1000 - i);

        var messages = MessageGroups.Of(pending, 4, 40).ToList();

        // Blocks of 40 in input order: the first 10 messages hold exactly the first 40 chunks, and so on.
        for (var block = 0; block < 5; block++)
        {
            var seqs = messages.Skip(block * 10).Take(10).SelectMany(m => m).Select(c => c.Seq).Order();
            Assert.Equal(Enumerable.Range(block * 40, 40), seqs);
        }

        // Within a block, the shortest first.
        Assert.Equal([39, 38, 37, 36], messages[0].Select(c => c.Seq));
    }

    [Fact]
    public void Texts_per_message_that_do_not_divide_the_block_still_give_full_messages_inside_it()
    {
        var messages = MessageGroups.Of(Items(100, i => i % 7), 3, 8192).ToList();

        Assert.Equal(34, messages.Count); // 100 / 3, rounded up: the same number of requests as in input order
        Assert.All(messages.SkipLast(1), m => Assert.Equal(3, m.Length));
    }

    [Fact]
    public void The_chunker_gives_each_chunk_its_size_in_tokens_with_the_models_overhead()
    {
        var tokenizer = ModelTokenizer.Load(null, null, null);
        var chunker = new Chunker(tokenizer, 32, 0);

        var whole = Assert.Single(chunker.Split("A short sentence about queues."));
        var long_ = chunker.Split(string.Join(' ', Enumerable.Range(0, 60).Select(i => $"word{i}"))).ToList();

        Assert.Equal(tokenizer.Count("A short sentence about queues."), whole.Size);
        Assert.True(long_.Count > 1);
        Assert.All(long_, c => Assert.InRange(c.Size, tokenizer.Count(c.Text), 32));
    }
}
