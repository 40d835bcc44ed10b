import path from 'node:path';
import { credentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  allExtensionNumbersResponse?: { baseTypeName: string; extensionNumber: number[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** The answer to all_extension_numbers_of_type: the numbers, or the error the server sent instead. */
export type ExtensionNumbersAnswer =
  | { readonly baseTypeName: string; readonly extensionNumbers: number[] }
  | { readonly errorCode: number; readonly errorMessage: string };

/**
 * A bare server-reflection client (v1 or v1alpha), built from the reflection
 * .proto with proto-loader, that sends one request per stream like grpcurl.
 */
export class ReflectionClient {
  private readonly client: InstanceType<ServiceClientConstructor>;

  constructor(address: string, version: 'v1' | 'v1alpha' = 'v1') {
    const protoPath = path.resolve(__dirname, '../../third_party/proto/grpc/reflection', version, 'reflection.proto');
    const definition = loadSync(protoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
    const grpcObject = loadPackageDefinition(definition) as unknown as { grpc: { reflection: Record<string, GrpcObject> } };
    const Service = grpcObject.grpc.reflection[version]!.ServerReflection as ServiceClientConstructor;
    this.client = new Service(address, credentials.createInsecure());
  }

  async listServices(): Promise<string[]> {
    const response = await this.ask({ listServices: '*' });
    return (response.listServicesResponse?.service ?? []).map((service) => service.name);
  }

  /** The serialized FileDescriptorProtos returned for a file name (the file and its imports). */
  async fileByFilename(name: string): Promise<Buffer[]> {
    return this.files(await this.ask({ fileByFilename: name }));
  }

  async fileContainingSymbol(symbol: string): Promise<Buffer[]> {
    return this.files(await this.ask({ fileContainingSymbol: symbol }));
  }

  /** all_extension_numbers_of_type, as grpcurl 1.8.x asks it for every message type it decodes. */
  async allExtensionNumbersOfType(type: string): Promise<ExtensionNumbersAnswer> {
    const response = await this.ask({ allExtensionNumbersOfType: type });
    if (response.errorResponse) return { errorCode: response.errorResponse.errorCode, errorMessage: response.errorResponse.errorMessage };
    const answer = response.allExtensionNumbersResponse;
    if (!answer) throw new Error(`no all_extension_numbers_response for ${type}`);
    return { baseTypeName: answer.baseTypeName, extensionNumbers: answer.extensionNumber };
  }

  close(): void {
    this.client.close();
  }

  private files(response: ReflectionResponse): Buffer[] {
    if (response.errorResponse) throw new Error(`reflection error ${response.errorResponse.errorCode}: ${response.errorResponse.errorMessage}`);
    return response.fileDescriptorResponse?.fileDescriptorProto ?? [];
  }

  private ask(request: Record<string, unknown>): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const stream = (this.client as unknown as { serverReflectionInfo(): NodeJS.ReadWriteStream }).serverReflectionInfo();
      stream.on('data', (response: ReflectionResponse) => {
        resolve(response);
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ host: '', ...request } as unknown as string);
    });
  }
}
