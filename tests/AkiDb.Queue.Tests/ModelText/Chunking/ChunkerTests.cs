using AkiDb.Queue.ModelText.Chunking;

namespace AkiDb.Queue.Tests;

/// <summary>The token-aware chunker with the real all-MiniLM-L6-v2 tokenizer (the vocab bundled with the worker).</summary>
public sealed class ChunkerTests
{
    private static readonly ModelTokenizer Tokenizer = ModelTokenizer.Load(null, null, null);

    private const string Document =
        "The first paragraph has two sentences. It ends here.\n\n" +
        "The second paragraph is longer and goes on for a while, so that it has to be split somewhere sensible. " +
        "Splitting mid-word would be bad. Splitting at a sentence end is good.\n\n" +
        "A short third one.";

    [Fact]
    public void The_default_size_is_the_models_limit_and_a_short_text_is_one_chunk()
    {
        var chunker = new Chunker(Tokenizer, null, 25);
        var chunks = chunker.Split("  A short text.\n").ToList();

        Assert.Equal(256, chunker.ChunkTokens);
        var chunk = Assert.Single(chunks);
        Assert.Equal("A short text.", chunk.Text);
        Assert.Equal(2, chunk.Start);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData(null, 25)]
    [InlineData(64, 16)]
    [InlineData(16, 4)]
    public void No_chunk_of_the_repositorys_docs_and_corpus_is_over_the_token_limit(int? chunkTokens, int overlap)
    {
        var chunker = new Chunker(Tokenizer, chunkTokens, overlap);
        foreach (var text in RepositoryTexts())
        {
            var chunks = chunker.Split(text).ToList();
            Assert.NotEmpty(chunks);
            foreach (var chunk in chunks)
            {
                Assert.True(Tokenizer.Count(chunk.Text) <= chunker.ChunkTokens, $"{Tokenizer.Count(chunk.Text)} tokens > {chunker.ChunkTokens}: {chunk.Text[..Math.Min(80, chunk.Text.Length)]}");
                Assert.Equal(chunk.Text, text.Substring(chunk.Start, chunk.Text.Length));
            }

            Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
            Assert.All(chunks.Zip(chunks.Skip(1)), p => Assert.True(p.Second.Start > p.First.Start));
        }
    }

    [Fact]
    public void Chunks_cover_every_word_and_overlap_by_at_most_the_overlap()
    {
        var text = string.Join(' ', Enumerable.Range(0, 600).Select(i => $"word{i}"));
        var chunker = new Chunker(Tokenizer, 50, 10);
        var chunks = chunker.Split(text).ToList();

        foreach (var word in text.Split(' '))
        {
            Assert.Contains(chunks, c => c.Text.Split(' ').Contains(word));
        }

        foreach (var (first, second) in chunks.Zip(chunks.Skip(1)))
        {
            var firstEnd = first.Start + first.Text.Length;
            Assert.True(second.Start < firstEnd, "consecutive chunks share words");
            Assert.InRange(Tokenizer.CountBare(text[second.Start..firstEnd]), 1, 10);
            Assert.True(second.Start == 0 || text[second.Start - 1] == ' ', "a chunk starts on a word");
        }
    }

    [Fact]
    public void Without_overlap_chunks_follow_each_other()
    {
        var chunks = new Chunker(Tokenizer, 20, 0).Split(Document).ToList();

        Assert.True(chunks.Count > 2);
        Assert.All(chunks.Zip(chunks.Skip(1)), p => Assert.True(p.Second.Start >= p.First.Start + p.First.Text.Length));
    }

    [Fact]
    public void Chunks_end_at_paragraphs_or_sentences_where_they_can()
    {
        var chunks = new Chunker(Tokenizer, 40, 0).Split(Document).ToList();

        Assert.Equal("The first paragraph has two sentences. It ends here.", chunks[0].Text);
        Assert.All(chunks, c => Assert.True(c.Text.EndsWith('.'), $"'{c.Text}' does not end at a sentence"));
    }

    [Fact]
    public void An_overlap_starts_on_a_sentence_when_it_holds_one()
    {
        var text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"Sentence number {i} is here."));
        var chunks = new Chunker(Tokenizer, 60, 20).Split(text).ToList();

        Assert.All(chunks.Skip(1), c => Assert.StartsWith("Sentence number", c.Text, StringComparison.Ordinal));
    }

    [Fact]
    public void A_word_longer_than_a_chunk_is_cut_into_pieces_that_fit()
    {
        var text = "before " + string.Concat(Enumerable.Range(0, 300).Select(i => $"x{i}y")) + " after";
        var chunker = new Chunker(Tokenizer, 32, 0);
        var chunks = chunker.Split(text).ToList();

        Assert.All(chunks, c => Assert.True(Tokenizer.Count(c.Text) <= 32));
        Assert.Equal(text.Length, chunks[^1].Start + chunks[^1].Text.Length);
        Assert.Equal(text.Replace(" ", "", StringComparison.Ordinal), string.Concat(chunks.Select(c => c.Text.Replace(" ", "", StringComparison.Ordinal))));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(64, 100)]
    [InlineData(64, -1)]
    public void An_overlap_not_smaller_than_the_chunk_is_an_error_that_names_the_flag(int chunk, int overlap)
    {
        var error = Assert.Throws<ArgumentException>(() => new Chunker(Tokenizer, chunk, overlap));
        Assert.Contains("--overlap-tokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chunk_size_over_the_models_limit_is_an_error()
    {
        var error = Assert.Throws<ArgumentException>(() => new Chunker(Tokenizer, 257, 0));
        Assert.Contains("--chunk-tokens 257", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Blank_text_gives_no_chunk()
    {
        Assert.Empty(new Chunker(Tokenizer, null, 0).Split(" \n\n\t "));
    }

    private static IEnumerable<string> RepositoryTexts()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "AkiDb.Queue.sln")))
        {
            root = Path.GetDirectoryName(root)!;
        }

        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md"))
        {
            yield return File.ReadAllText(file);
        }

        yield return File.ReadAllText(Path.Combine(root, "bench", "data", "corpus.txt"));
        yield return File.ReadAllText(Path.Combine(root, "README.md"));
    }
}
