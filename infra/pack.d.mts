export declare function pack(opts?: { destination?: string; log?: (message: string) => void }): string;
