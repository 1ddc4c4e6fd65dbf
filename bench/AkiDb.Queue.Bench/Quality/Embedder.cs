using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>One model file in an in-process ONNX Runtime session (the native backend's), embedding a corpus as the worker batches it.</summary>
internal sealed class Embedder(ModelDefinition model, int threads) : IDisposable
{
    private readonly NativeModelSession _session = new(model, threads, [ExecutionProvider.CPU], allowSpinning: false);

    /// <summary>One unit vector per text, in corpus order (run length-sorted in batches of 32).</summary>
    public float[][] Embed(Corpus corpus)
    {
        var vectors = new Dictionary<CorpusText, float[]>(ReferenceEqualityComparer.Instance);
        foreach (var chunk in corpus.SortedChunks(32))
        {
            var output = _session.Run(Corpus.ToBatch(chunk, model.Name));
            for (var i = 0; i < chunk.Count; i++)
            {
                vectors[chunk[i]] = output.Row(i).ToArray();
            }
        }

        return corpus.Texts.Select(t => vectors[t]).ToArray();
    }

    /// <summary>Vectors of a few loose texts, tokenised by <paramref name="tokenize"/>.</summary>
    public float[][] Embed(IEnumerable<string> texts, Func<string, long[]> tokenize)
    {
        var corpus = new Corpus("loose", "loose texts", texts.Select(t => new CorpusText(t, tokenize(t))).ToList());
        return Embed(corpus);
    }

    public void Dispose() => _session.Dispose();
}
