using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// In-process ONNX Runtime in C#, written here independently of the worker: the oracle the bridge's vectors are
/// compared with. Mean pooling over the attention mask, then L2 normalisation, one text at a time (no padding).
/// </summary>
public sealed class ReferenceEmbedder(string onnxPath) : IDisposable
{
    private readonly InferenceSession _session = new(onnxPath);

    public float[] Embed(long[] ids)
    {
        var shape = new[] { 1, ids.Length };
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), shape)),
        };
        if (_session.InputMetadata.ContainsKey("token_type_ids"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)));
        }

        using var outputs = _session.Run(inputs, ["last_hidden_state"]);
        var hidden = outputs[0].AsTensor<float>();
        var dim = hidden.Dimensions[2];
        var vector = new double[dim];
        for (var t = 0; t < ids.Length; t++)
        {
            for (var d = 0; d < dim; d++)
            {
                vector[d] += hidden[0, t, d];
            }
        }

        var mean = vector.Select(x => x / ids.Length).ToArray();
        var norm = Math.Sqrt(mean.Sum(x => x * x));
        return mean.Select(x => (float)(x / norm)).ToArray();
    }

    public void Dispose() => _session.Dispose();
}
