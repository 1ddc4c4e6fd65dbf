using AkiDb.Queue.ModelText.Chunking;
using AkiDb.Queue.Cli.Embedding;
using AkiDb.Queue.Cli.Ingestion;

namespace AkiDb.Queue.Tests;

/// <summary>What a run of `embed` sends: input order, stable positions, and what a resumed run skips.</summary>
public sealed class EmbedPlanTests : IDisposable
{
    private static readonly Chunker Chunker = new(ModelTokenizer.Load(null, null, null), 32, 0);
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("akidb-plan-");

    [Fact]
    public void A_resumed_run_sends_only_the_chunks_the_output_does_not_hold_and_drops_a_cut_off_last_line()
    {
        var documents = new[]
        {
            new InputDocument("a", "Short.", null),
            new InputDocument("b", string.Join(' ', Enumerable.Range(0, 60).Select(i => $"word{i}")), null),
            new InputDocument("c", "Also short.", new Dictionary<string, string> { ["k"] = "v" }),
        };
        var full = EmbedPlan.Build(documents, Chunker, new HashSet<(string, int)>());
        Assert.Equal(full.TotalChunks, full.Pending.Count);
        Assert.Equal(Enumerable.Range(0, full.TotalChunks), full.Pending.Select(c => c.Seq));
        Assert.Equal("a", full.Pending[0].Id);
        Assert.Equal("c", full.Pending[^1].Id);
        Assert.True(full.Pending.Count(c => c.Id == "b") > 1);

        var output = Path.Combine(_folder.FullName, "out.jsonl");
        File.WriteAllText(output, """{"id":"a","chunk":0,"embedding":[]}""" + "\n" + """{"id":"b","chunk":0,"embedding":[]}""" + "\n" + """{"id":"b","chunk":1,"embe""");
        var written = OutputFile.ReadWritten(output);
        var resumed = EmbedPlan.Build(documents, Chunker, written);

        Assert.Equal(2, written.Count);
        Assert.EndsWith("\n", File.ReadAllText(output), StringComparison.Ordinal);
        Assert.Equal(full.TotalChunks, resumed.TotalChunks);
        Assert.Equal(2, resumed.Skipped);
        Assert.Equal(full.Pending.Skip(2).Select(c => c.Seq), resumed.Pending.Select(c => c.Seq));
    }

    [Fact]
    public void A_duplicate_id_is_an_error_that_names_it()
    {
        var error = Assert.Throws<InvalidDataException>(() => EmbedPlan.Build([new("x", "one", null), new("x", "two", null)], Chunker, new HashSet<(string, int)>()));
        Assert.Contains("'x'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_blank_text_still_becomes_one_chunk_so_the_worker_answers_for_it()
    {
        var plan = EmbedPlan.Build([new("blank", "   ", null)], Chunker, new HashSet<(string, int)>());
        Assert.Equal("   ", Assert.Single(plan.Pending).Text);
    }

    [Fact]
    public void JSONL_input_takes_id_text_and_metadata_and_a_single_text_file_is_one_document()
    {
        var jsonl = Path.Combine(_folder.FullName, "in.jsonl");
        File.WriteAllLines(jsonl, ["""{"id":"x","text":"hello","metadata":{"n":1,"s":"v"}}""", "", """{"text":"no id"}"""]);
        var md = Path.Combine(_folder.FullName, "notes.md");
        File.WriteAllText(md, "# Notes\n\nSome text.");

        var rows = InputDocuments.Read(jsonl).ToList();
        var single = Assert.Single(InputDocuments.Read(md));

        Assert.Equal(["x", "in.jsonl:3"], rows.Select(r => r.Id));
        Assert.Equal("1", rows[0].Metadata!["n"]);
        Assert.Equal("v", rows[0].Metadata!["s"]);
        Assert.Equal("notes.md", single.Id);
        Assert.Contains("Some text.", single.Text, StringComparison.Ordinal);
        Assert.Contains("has no \"text\"", Assert.Throws<InvalidDataException>(() => InputDocuments.FromJsonLines(WriteLine("""{"id":"y"}""")).ToList()).Message, StringComparison.Ordinal);
    }

    public void Dispose() => _folder.Delete(recursive: true);

    private string WriteLine(string line)
    {
        var path = Path.Combine(_folder.FullName, $"{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, line + "\n");
        return path;
    }
}
