using AkiDb.Queue.Cli.Ingestion;
using AkiDb.Queue.ModelText.Input;

namespace AkiDb.Queue.Tests;

public sealed class DocumentSourceTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("akidb-docs-");

    [Fact]
    public void A_folder_becomes_requests_with_stable_ids_and_source_metadata()
    {
        File.WriteAllText(Path.Combine(_folder.FullName, "a.md"), string.Join("\n\n", Enumerable.Range(0, 30).Select(i => $"Paragraph {i} says something.")));
        Directory.CreateDirectory(Path.Combine(_folder.FullName, "sub"));
        File.WriteAllText(Path.Combine(_folder.FullName, "sub", "b.txt"), "Just one line.");
        File.WriteAllText(Path.Combine(_folder.FullName, "ignored.bin"), "binary");

        var requests = DocumentSource.FromFolder(_folder.FullName, 100, 0, 4, "m").ToList();
        var again = DocumentSource.FromFolder(_folder.FullName, 100, 0, 4, "m").ToList();

        Assert.Equal(requests.Select(r => r.RequestId), again.Select(r => r.RequestId));
        Assert.All(requests, r => Assert.InRange(r.Texts!.Count, 1, 4));
        Assert.Contains(requests, r => r.RequestId == "sub/b.txt#0" && r.Metadata!["source"] == "sub/b.txt");
        Assert.DoesNotContain(requests, r => r.RequestId!.StartsWith("ignored", StringComparison.Ordinal));
        Assert.All(requests, r => Assert.Equal("m", r.Model));
    }

    [Fact]
    public void JSON_lines_take_either_a_full_request_or_one_text()
    {
        var file = Path.Combine(_folder.FullName, "in.jsonl");
        File.WriteAllLines(file,
        [
            """{"requestId":"r1","texts":["a","b"],"metadata":{"k":"v"}}""",
            "",
            """{"id":"r2","text":"c","inputType":"query"}""",
            """{"text":"no id"}""",
        ]);

        var requests = DocumentSource.FromJsonLines(file, null).ToList();

        Assert.Equal(["r1", "r2", "in.jsonl:4"], requests.Select(r => r.RequestId));
        Assert.Equal(["a", "b"], requests[0].Texts!);
        Assert.Equal("v", requests[0].Metadata!["k"]);
        Assert.Equal("query", requests[1].InputType);
    }

    [Fact]
    public void A_broken_JSON_line_is_reported_with_its_line_number()
    {
        var file = Path.Combine(_folder.FullName, "bad.jsonl");
        File.WriteAllLines(file, ["""{"text":"ok"}""", "{not json"]);

        var error = Assert.Throws<InvalidDataException>(() => DocumentSource.FromJsonLines(file, null).ToList());
        Assert.Contains("bad.jsonl:2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_single_text_file_is_accepted_where_a_folder_is()
    {
        var file = Path.Combine(_folder.FullName, "notes.md");
        File.WriteAllText(file, "# Notes\n\nJust a few words.");

        var request = Assert.Single(DocumentSource.FromFolder(file, 100, 0, 4, null));

        Assert.Equal("notes.md#0", request.RequestId);
        Assert.False(JsonLines.IsJsonLines(file));
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
