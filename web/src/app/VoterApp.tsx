export default function VoterApp() {
  return <main><h1>livevote</h1></main>;
}
