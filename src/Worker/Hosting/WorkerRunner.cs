using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>
/// Runs the worker and turns a failed start into one line on stderr and exit code 1. Without this, a bad setting
/// or a refused login ends in an unhandled exception: the host logs it, the runtime prints it again and aborts
/// (SIGABRT, exit 134), 80-200 lines in which the setting's name is hard to find.
/// </summary>
public static partial class WorkerRunner
{
    public static async Task<int> RunWorkerAsync(this HostApplicationBuilder builder)
    {
        // The host logs a failed start with its stack trace before rethrowing it; the line below replaces that.
        // Critical stays on: the host uses it for a background service that stops the worker after start.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        IHost host;
        try
        {
            host = builder.Build();
        }
        catch (Exception e)
        {
            return Fail(e);
        }

        using (host)
        {
            var lifetime = (IHostApplicationLifetime?)host.Services.GetService(typeof(IHostApplicationLifetime));
            try
            {
                // Every setting first, before any service is built: a bad one then fails alone, before the model
                // catalogue extracts files or the bridge starts.
                ((IStartupValidator?)host.Services.GetService(typeof(IStartupValidator)))?.Validate();
                await host.RunAsync();
                // 0, or what a component that stopped the worker on purpose set (Messaging.ConsumingWatchdog.ExitCode).
                return Environment.ExitCode;
            }
            catch (OperationCanceledException) when (lifetime?.ApplicationStopping.IsCancellationRequested == true)
            {
                // Stopped (Ctrl+C, SIGTERM) while still starting: nothing failed.
                return 0;
            }
            catch (Exception e) when (lifetime is null || !lifetime.ApplicationStarted.IsCancellationRequested)
            {
                return Fail(e);
            }
        }
    }

    private static int Fail(Exception e)
    {
        // Console.Error directly: the logger may be the part that failed, and its queue may not be flushed on exit.
        Console.Error.WriteLine($"AkiDb.Queue worker failed to start: {Describe(e)}");
        return 1;
    }

    /// <summary>One line: the setting at fault and how to fix it when the cause is known, else the exception's own message.</summary>
    internal static string Describe(Exception exception)
    {
        switch (exception)
        {
            case AggregateException { InnerExceptions.Count: 1 } single:
                return Describe(single.InnerExceptions[0]);
            case AggregateException several:
                return string.Join(" ", several.InnerExceptions.Select(Describe).Distinct());
            case StartupFailedException known:
                return known.Message;
            case OptionsValidationException invalid:
                return string.Join(" ", invalid.Failures.Select(f => DescribeValidation(invalid.OptionsType, f))) + " Fix the setting and start again.";
            case InvalidOperationException when ConversionFailure().Match(exception.Message) is { Success: true } conversion:
                return $"{conversion.Groups["key"].Value} has a value that is not a valid {conversion.Groups["type"].Value.Split('.')[^1]}. " +
                       "Fix the setting and start again.";
        }

        // An unexpected exception: its type and message, on one line (with the innermost cause when there is one).
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return innermost == exception
            ? $"{exception.GetType().Name}: {Flatten(exception.Message)}"
            : $"{exception.GetType().Name}: {Flatten(exception.Message)} ({innermost.GetType().Name}: {Flatten(innermost.Message)})";
    }

    // Options types keep their section name in a Section constant; DataAnnotations messages name only the property.
    private static string DescribeValidation(Type optionsType, string failure)
    {
        var section = optionsType.GetField("Section")?.GetRawConstantValue() as string;
        var match = DataAnnotationsFailure().Match(failure);
        if (!match.Success)
        {
            return Flatten(failure);
        }

        var key = section is null ? match.Groups["member"].Value : $"{section}:{match.Groups["member"].Value}";
        var error = match.Groups["error"].Value;
        return error.StartsWith(key, StringComparison.Ordinal) ? Flatten(error) : $"{key}: {Flatten(error)}";
    }

    private static string Flatten(string text) => Telemetry.LogValue.Of(text.ReplaceLineEndings(" "), 600);

    [GeneratedRegex(@"^DataAnnotation validation failed for '[^']+' members: '(?<member>[^']+)' with the error: '(?<error>.*)'\.$", RegexOptions.Singleline)]
    private static partial Regex DataAnnotationsFailure();

    [GeneratedRegex(@"^Failed to convert configuration value (?:'[^']*' )?at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex ConversionFailure();
}
