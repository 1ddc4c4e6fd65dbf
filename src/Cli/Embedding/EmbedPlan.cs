using AkiDb.Queue.Cli.Chunking;
using AkiDb.Queue.Cli.Ingestion;
using AkiDb.Queue.ModelText.Chunking;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>What one run sends: every chunk of the input, in input order, less those an earlier run already wrote.</summary>
internal sealed record EmbedPlan(int TotalChunks, IReadOnlyList<ChunkItem> Pending)
{
    public int Skipped => TotalChunks - Pending.Count;

    /// <param name="cancellationToken">Checked per document: chunking a large folder takes a while, and Ctrl+C must not wait for it.</param>
    public static EmbedPlan Build(IEnumerable<InputDocument> documents, Chunker chunker, IReadOnlySet<(string Id, int Chunk)> written, CancellationToken cancellationToken = default)
    {
        var pending = new List<ChunkItem>();
        var seq = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var document in documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!seen.Add(document.Id))
            {
                throw new InvalidDataException($"The id '{document.Id}' appears twice in the input; ids must be unique so results and a resumed run can tell them apart.");
            }

            var chunks = chunker.Split(document.Text).ToList();
            if (chunks.Count == 0)
            {
                // An empty or blank text still goes to the worker, whose answer (invalid_request) says what is wrong with it.
                chunks.Add(new Chunk(0, 0, document.Text));
            }

            foreach (var chunk in chunks)
            {
                if (!written.Contains((document.Id, chunk.Index)))
                {
                    pending.Add(new ChunkItem(seq, document.Id, chunk.Index, chunk.Start, chunk.Start + chunk.Text.Length, chunk.Text, document.Metadata, chunk.Size));
                }

                seq++;
            }
        }

        return new EmbedPlan(seq, pending);
    }
}
