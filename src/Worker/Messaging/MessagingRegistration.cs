using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Requests;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

public static class MessagingRegistration
{
    /// <summary>MassTransit on RabbitMQ: the embed-requested endpoint, plain-JSON in and out, publisher confirms.</summary>
    public static IHostApplicationBuilder AddMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<RabbitMqOptions>(RabbitMqOptions.Section);
        builder.Services.AddValidatedOptions<LimitsOptions>(LimitsOptions.Section);
        builder.Services.AddSingleton<RequestValidator>();
        builder.Services.AddSingleton<RequestParser>();
        builder.Services.AddSingleton<InferenceCircuitBreaker>();
        builder.Services.AddSingleton<MalformedMessageObserver>();
        builder.Services.AddSingleton<BrokerFlowState>();
        builder.Services.AddSingleton<BrokerFlowFilter>();
        MalformedFaultLogFilter.Register(builder.Services);
        // Before MassTransit's hosted service: a refused login or an unreachable broker is reported here, plainly.
        builder.Services.AddHostedService<BrokerConnectionProbe>();
        var usageTelemetry = (builder.Configuration.GetSection(Telemetry.TelemetryOptions.Section).Get<Telemetry.TelemetryOptions>() ?? new()).MassTransitUsageTelemetry;
        builder.Services.AddValidatedOptions<ResultsOptions>(ResultsOptions.Section);
        builder.Services.AddSingleton<EdgeTelemetry>();
        builder.Services.AddSingleton<ResultPublisher>();
        builder.Services.AddSingleton<RequestResults>();
        builder.Services.AddSingleton<RefusedPublishObserver>();

        builder.Services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            // The host reports itself started only once the broker connection is up, so "ready" means ready.
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromMinutes(2);
            o.StopTimeout = TimeSpan.FromSeconds(30);
            o.ConsumerStopTimeout = TimeSpan.FromSeconds(25);
        });

        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<EmbedRequestedConsumer, EmbedRequestedConsumerDefinition>();
            if (builder.Configuration.GetValue(RabbitMqOptions.Section + ":" + nameof(RabbitMqOptions.AnswerBrokerExpired), true))
            {
                x.AddConsumer<BrokerExpiredConsumer, BrokerExpiredConsumerDefinition>();
            }
            x.AddBrokerFlowWatch();
            if (!usageTelemetry)
            {
                // MassTransit reports usage to its authors' servers by default (and probes cloud metadata endpoints to
                // describe the host). A worker calls only what it was configured to: opt in with Telemetry:MassTransitUsageTelemetry.
                x.DisableUsageTelemetry();
            }

            x.UsingRabbitMq((context, cfg) =>
            {
                var options = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                cfg.Host(new Uri(options.Url), h =>
                {
                    h.PublisherConfirmation = true;
                    h.ConnectionName(options.ConnectionName);
                    RabbitMqClusterNodes.Configure(h, options);
                });
                cfg.ApplyToErrorQueues(options);

                // Producers in any language send plain JSON, with or without a content type; results go out as plain
                // JSON too. MassTransit's envelope format is still understood for .NET producers that use it.
                cfg.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                cfg.UseRawJsonSerializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: true);
                // UseRawJsonSerializer registers a raw JSON deserializer too, and the last one added for a content type wins:
                // this one replaces it with the same options, and skips a UTF-8 byte-order mark (keep the options equal).
                cfg.AddDeserializer(new BomTolerantJsonSerializerFactory(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders), isDefault: true);
                // MassTransit indents its JSON; a vector is 384 numbers, so indentation nearly doubles every result.
                cfg.ConfigureJsonSerializerOptions(json =>
                {
                    json.WriteIndented = false;
                    return json;
                });

                cfg.Message<EmbedCompleted>(m => m.SetEntityName(QueueNames.EmbedCompleted));
                cfg.Message<EmbedFailed>(m => m.SetEntityName(QueueNames.EmbedFailed));
                cfg.ConnectReceiveObserver(context.GetRequiredService<MalformedMessageObserver>());
                // Before anything reads them: MT-MessageType must not pick the consumer, MT-Response-Address and
                // MT-Fault-Address must not pick where anything is sent (see ProducerHeaders).
                cfg.ConnectReceiveObserver(new ProducerHeadersObserver());
                cfg.ConnectSendObserver(context.GetRequiredService<RefusedPublishObserver>());
                cfg.ConnectPublishObserver(context.GetRequiredService<RefusedPublishObserver>());
                cfg.ConfigureEndpoints(context);
            });
        });

        // Registered after MassTransit on purpose: the broker connection and the backend start-up run together,
        // and the host reports itself started only when both are done.
        builder.Services.AddHostedService<Hosting.InferenceReadyGate>();
        Hosting.BackPressureRegistration.AddBackPressureSignals(builder);
        builder.Services.AddHostedService<ParkingQueueDeclarer>();
        return builder;
    }
}
