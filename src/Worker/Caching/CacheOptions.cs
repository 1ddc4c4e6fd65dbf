using System.ComponentModel.DataAnnotations;
using StackExchange.Redis;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// Configuration section <c>Cache</c>: the embedding cache. Vectors are kept in process (bounded by
/// <see cref="MaxMemoryMiB"/>) and, when <see cref="Redis"/> is set, in a Redis every worker on the queue shares.
/// </summary>
public sealed class CacheOptions : IValidatableObject
{
    public const string Section = "Cache";

    /// <summary>Off: every text goes to the model, nothing is looked up or stored.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Bound of the in-process level; a 384-dimension vector takes about 1.6 KiB of it.</summary>
    [Range(1, 1_048_576)]
    public int MaxMemoryMiB { get; set; } = 256;

    /// <summary>
    /// A StackExchange.Redis configuration string (<c>host:port,password=...</c>, with <c>ssl=true</c> for TLS: the
    /// certificate chain and host name are verified); unset: no shared level.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>TLS: a PEM file of the CA that signed Redis's certificate, trusted besides the platform store and <c>SSL_CERT_FILE</c>.</summary>
    public string? RedisCaFile { get; set; }

    /// <summary>How long an entry lives in either level after it was written; Redis evicts it then by itself.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// The most a Redis call may take (connect, read or write) before the worker goes on without it: the most a
    /// message can be delayed by a slow or unreachable Redis.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long Redis is skipped after it failed, before one call probes whether it is back.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RedisBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Redis))
        {
            yield break;
        }

        string? error = null;
        try
        {
            if (ConfigurationOptions.Parse(Redis).EndPoints.Count == 0)
            {
                error = "it names no host:port";
            }
        }
        catch (ArgumentException e)
        {
            error = e.Message;
        }

        // The message names the key, never the value: the string may hold a password.
        if (error is not null)
        {
            yield return new ValidationResult($"{Section}:Redis is not a StackExchange.Redis configuration string ({error}).", [nameof(Redis)]);
            yield break;
        }

        if (!string.IsNullOrWhiteSpace(RedisCaFile))
        {
            if (!ConfigurationOptions.Parse(Redis).Ssl)
            {
                yield return new ValidationResult($"{Section}:RedisCaFile is set but {Section}:Redis has no ssl=true: the CA is used only over TLS.", [nameof(RedisCaFile)]);
            }

            string? caError = null;
            try
            {
                _ = AkiDb.Queue.Broker.BrokerTrust.ForCaFile(RedisCaFile, $"{Section}:RedisCaFile");
            }
            catch (AkiDb.Queue.Broker.BrokerSettingsException e)
            {
                caError = e.Message;
            }

            if (caError is not null)
            {
                yield return new ValidationResult(caError, [nameof(RedisCaFile)]);
            }
        }
    }
}
