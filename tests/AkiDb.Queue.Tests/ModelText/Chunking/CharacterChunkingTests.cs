using AkiDb.Queue.ModelText.Chunking;

namespace AkiDb.Queue.Tests;

public sealed class CharacterChunkingTests
{
    private const string Document =
        "The first paragraph has two sentences. It ends here.\n\n" +
        "The second paragraph is longer and goes on for a while, so that it has to be split somewhere sensible. " +
        "Splitting mid-word would be bad. Splitting at a sentence end is good.\n\n" +
        "A short third one.";

    [Fact]
    public void Chunks_respect_the_size_limit_and_cover_the_whole_text()
    {
        var chunks = new Chunker(CharacterMeasure.Instance, 80, 20).Split(Document).ToList();

        Assert.All(chunks, c => Assert.True(c.Text.Length <= 80, $"{c.Text.Length} chars"));
        Assert.All(chunks.Zip(chunks.Skip(1)), p => Assert.True(p.Second.Start > p.First.Start));
        foreach (var word in Document.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Contains(chunks, c => c.Text.Contains(word, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Chunks_break_at_paragraphs_or_sentence_ends_before_words()
    {
        var chunks = new Chunker(CharacterMeasure.Instance, 120, 0).Split(Document).ToList();

        Assert.Equal("The first paragraph has two sentences. It ends here.", chunks[0].Text);
        Assert.All(chunks.SkipLast(1), c => Assert.True(c.Text.EndsWith('.'), $"'{c.Text}' does not end at a sentence"));
    }

    [Fact]
    public void Consecutive_chunks_overlap_by_whole_words()
    {
        var text = string.Join(' ', Enumerable.Range(0, 200).Select(i => $"w{i}"));
        var chunks = new Chunker(CharacterMeasure.Instance, 100, 30).Split(text).ToList();

        foreach (var (first, second) in chunks.Zip(chunks.Skip(1)))
        {
            var firstWords = first.Text.Split(' ');
            var secondWords = second.Text.Split(' ');
            Assert.Contains(secondWords[0], firstWords); // starts on a word the previous chunk already had
            Assert.All(secondWords, w => Assert.Matches("^w[0-9]+$", w));
        }
    }

    [Fact]
    public void A_word_longer_than_a_chunk_is_cut_and_the_loop_ends()
    {
        var chunks = new Chunker(CharacterMeasure.Instance, 100, 10).Split(new string('x', 250)).ToList();

        Assert.All(chunks, c => Assert.True(c.Text.Length <= 100));
        Assert.Equal(250, chunks[^1].Start + chunks[^1].Text.Length);
        Assert.InRange(chunks.Count, 3, 4);
    }

    [Fact]
    public void Empty_or_blank_text_gives_no_chunks() =>
        Assert.Empty(new Chunker(CharacterMeasure.Instance, 100, 10).Split(" \n\n\t "));
}
